// Preload (`node --require`) that makes `_http_common` unavailable, as on a Node that removed it
// (DEP0199): requiring it throws MODULE_NOT_FOUND. Node's own modules are not affected.
const Module = require("node:module");
const load = Module._load;
Module._load = function (request, ...rest) {
  if (request === "_http_common" || request === "node:_http_common") {
    const err = new Error(`Cannot find module '${request}'`);
    err.code = "MODULE_NOT_FOUND";
    throw err;
  }
  return load.call(this, request, ...rest);
};
