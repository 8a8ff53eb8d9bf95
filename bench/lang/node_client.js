// Time N sequential net.connect()+destroy(); print microseconds of the
// process's CPU time per operation.
'use strict';
const net = require('net');
const [port, n] = [Number(process.argv[2]), Number(process.argv[3])];
let i = 0;
let t0;
function next() {
  if (i === 200) t0 = process.cpuUsage();   // after warm-up
  if (i === n + 200) {
    const used = process.cpuUsage(t0);
    console.log(((used.user + used.system) / n).toFixed(3));
    return;
  }
  i++;
  const s = net.connect(port, '127.0.0.1', () => { s.destroy(); next(); });
}
next();
