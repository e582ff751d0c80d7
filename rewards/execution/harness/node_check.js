// Long-lived syntax-check worker for JavaScript (runs inside the sandbox).
// Reads length-prefixed JSON requests {"code": ...} on stdin (4-byte little-endian
// length), answers {"ok": bool, "line": n|null, "column": n|null, "message": s} the same
// way. The code is compiled, never run, with CommonJS module semantics (what
// `node --check file.js` does): vm.compileFunction with the CommonJS wrapper parameters;
// ES-module syntax (import/export) is retried as a module.
"use strict";
const vm = require("vm");

function locate(err) {
  const first = String(err.stack || "").split("\n")[0];
  const m = /:(\d+)(?::(\d+))?$/.exec(first);
  return m ? [Number(m[1]), m[2] ? Number(m[2]) : null] : [null, null];
}

function check(code) {
  try {
    vm.compileFunction(code, ["exports", "require", "module", "__filename", "__dirname"],
                       { filename: "main.js" });
    return { ok: true, line: null, column: null, message: "" };
  } catch (err) {
    if (/import statement outside a module|Unexpected token 'export'|import\.meta/.test(String(err.message))
        && typeof vm.SourceTextModule === "function") {
      try {
        new vm.SourceTextModule(code, { identifier: "main.mjs" });
        return { ok: true, line: null, column: null, message: "" };
      } catch (err2) {
        err = err2;
      }
    }
    const [line, column] = locate(err);
    return { ok: false, line, column, message: `${err.name}: ${err.message}` };
  }
}

let buf = Buffer.alloc(0);
process.stdin.on("data", (chunk) => {
  buf = Buffer.concat([buf, chunk]);
  while (buf.length >= 4) {
    const n = buf.readUInt32LE(0);
    if (buf.length < 4 + n) break;
    const req = JSON.parse(buf.subarray(4, 4 + n).toString("utf8"));
    buf = buf.subarray(4 + n);
    const body = Buffer.from(JSON.stringify(check(req.code)), "utf8");
    const head = Buffer.alloc(4);
    head.writeUInt32LE(body.length, 0);
    process.stdout.write(Buffer.concat([head, body]));
  }
});
process.stdin.on("end", () => process.exit(0));
