// Preload (node --require) that simulates an install which never built hnswlib-node's
// native addon (npm install --ignore-scripts, no compiler): loading its .node file fails
// the way a missing file does, so the `bindings` loader reports what it reports for real.
const dlopen = process.dlopen;
process.dlopen = function (module, filename, ...rest) {
  if (/hnswlib/i.test(String(filename))) {
    throw Object.assign(new Error(`Cannot find module '${filename}' (simulated: addon not built)`), { code: 'MODULE_NOT_FOUND' });
  }
  return dlopen.call(this, module, filename, ...rest);
};
