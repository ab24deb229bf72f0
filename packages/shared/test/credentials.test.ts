/**
 * Who a process is to Azure: AZURE_CREDENTIAL=default is DefaultAzureCredential
 * (managed identity in Azure), dev a fixed token only dev-vault takes. That
 * dev-vault and Azurite accept these credentials is tested where they are used
 * (shared-integration's secret-provider.test.ts, the worker's entra-id.test.ts).
 */
import t from 'tap'
import { DefaultAzureCredential } from '@azure/identity'
import { createCredential, DevTokenCredential } from '../src/credentials.js'

t.test('AZURE_CREDENTIAL=default is DefaultAzureCredential, never the development token', async (t) => {
  const credential = createCredential({ credential: 'default' })
  t.type(credential, DefaultAzureCredential)
  t.notOk(credential instanceof DevTokenCredential)
  // No getToken here: it would ask the instance metadata service, off this machine.
})

t.test('AZURE_CREDENTIAL=dev is the development token', async (t) => {
  t.type(createCredential({ credential: 'dev' }), DevTokenCredential)
})

t.test('the development token is fixed and good for an hour, so the SDK does not ask again per request', async (t) => {
  const before = Date.now()
  const token = await new DevTokenCredential().getToken()
  t.equal(token.token, 'codegate-dev-token')
  t.ok(token.expiresOnTimestamp >= before + 3600_000 && token.expiresOnTimestamp <= Date.now() + 3600_000, `expires in an hour (${token.expiresOnTimestamp - before} ms)`)
  t.equal((await new DevTokenCredential().getToken()).token, token.token, 'the same token every time')
})
