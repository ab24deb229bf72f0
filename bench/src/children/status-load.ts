/** Child: the status-aware load generator (status-load.ts), in a process of its own. */
import { serve } from '../child.js'
import { runStatusLoad, type StatusLoadRequest, type StatusLoadResult } from '../status-load.js'

serve<StatusLoadRequest, StatusLoadResult, undefined>(
  async () => ({ state: undefined }),
  async (request) => await runStatusLoad(request)
)
