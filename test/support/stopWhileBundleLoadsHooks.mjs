// The loader hooks of `stopWhileBundleLoads.mjs`: they run on the loader's own thread, so the signal reaches the
// program's main thread while it waits for the bundle.
let signal = "SIGINT"

export const initialize = (data) => {
  signal = data.signal
}

export const load = async (url, context, nextLoad) => {
  if (url.endsWith(".bundle.js")) process.kill(process.pid, signal)
  return nextLoad(url, context)
}
