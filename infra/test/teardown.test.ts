/** infra/teardown.sh against the stand-in az: deletes the group, then purges its soft-deleted vault. */
import t from 'tap'
import { FakeAz } from './fixtures/fake-az.js'
import { runScript } from './fixtures/run-script.js'

async function deployed (): Promise<FakeAz> {
  const az = await new FakeAz({ groups: [{ name: 'codegate-rg', location: 'westeurope', tags: {} }] }).start()
  const vaultId = `/subscriptions/${az.state.subscriptionId}/resourceGroups/codegate-rg/providers/Microsoft.KeyVault/vaults/codegate-kv-1`
  az.state.resources[vaultId] = { type: 'vault', name: 'codegate-kv-1', id: vaultId }
  // Another group's deleted vault must be left alone.
  az.state.deletedVaults.push({ name: 'other-kv', vaultId: vaultId.replace('codegate-rg', 'other-rg').replace('codegate-kv-1', 'other-kv') })
  return az
}

t.test('--yes deletes the group and purges its vault, and only its vault', async (t) => {
  const az = await deployed()
  t.teardown(async () => { await az.close() })
  const run = await runScript('teardown.sh', {}, az, ['--yes'])
  t.equal(run.code, 0, 'tears down', { stderr: run.stderr })
  t.equal(az.find('group', 'delete').length, 1)
  t.same(az.find('keyvault', 'purge').map((c) => c.args[c.args.indexOf('--name') + 1]), ['codegate-kv-1'])
  t.same(az.state.deletedVaults.map((v) => v.name), ['other-kv'])
  t.same(az.state.groups, {})
})

t.test('without --yes and without a terminal it deletes nothing', async (t) => {
  const az = await deployed()
  t.teardown(async () => { await az.close() })
  const run = await runScript('teardown.sh', {}, az)
  t.equal(run.code, 1)
  t.match(run.stderr, /not interactive: pass --yes to delete codegate-rg/)
  t.same(az.find('group', 'delete'), [])
})

t.test('--keep-vault leaves the deleted vault recoverable', async (t) => {
  const az = await deployed()
  t.teardown(async () => { await az.close() })
  const run = await runScript('teardown.sh', {}, az, ['--yes', '--keep-vault'])
  t.equal(run.code, 0, 'tears down', { stderr: run.stderr })
  t.same(az.find('keyvault', 'purge'), [])
  t.ok(az.state.deletedVaults.some((v) => v.name === 'codegate-kv-1'))
})
