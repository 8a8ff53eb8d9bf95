// A node http server as its users run it: SIGTERM makes it exit 0.
// Usage: node node_http.js PORT
'use strict';
const http = require('http');

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 3 });
  res.end('ok\n');
});
server.listen(Number(process.argv[2]), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
