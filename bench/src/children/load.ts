/** Child: the HTTP load generator, in a process of its own so it does not share the server's event loop. */
import { serve } from '../child.js'
import { hasAutocannon, runAutocannon, runBuiltin, type LoadRequest, type LoadResult } from '../http-load.js'

export type Driver = 'auto' | 'builtin' | 'autocannon'

serve<LoadRequest & { driver: Driver }, LoadResult, { autocannon: boolean }>(
  async () => {
    const autocannon = await hasAutocannon()
    return { state: { autocannon }, info: { autocannon } }
  },
  async (request, state) => {
    const useAutocannon = request.driver === 'autocannon' || (request.driver === 'auto' && state.autocannon)
    if (request.driver === 'autocannon' && !state.autocannon) throw new Error('autocannon is not installed')
    return useAutocannon ? await runAutocannon(request) : await runBuiltin(request)
  }
)
