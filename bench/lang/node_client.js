// Time N sequential net.connect()+destroy(); print microseconds per operation.
'use strict';
const net = require('net');
const [port, n] = [Number(process.argv[2]), Number(process.argv[3])];
let i = 0;
let t0;
function next() {
  if (i === 200) t0 = process.hrtime.bigint();   // after warm-up
  if (i === n + 200) {
    console.log((Number(process.hrtime.bigint() - t0) / 1e3 / n).toFixed(3));
    return;
  }
  i++;
  const s = net.connect(port, '127.0.0.1', () => { s.destroy(); next(); });
}
next();
