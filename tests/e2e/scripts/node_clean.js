// net client, server and accepted connection, each closed: no leak.
// Usage: node node_clean.js PORT
'use strict';
const net = require('net');

const sock = net.connect(Number(process.argv[2]), '127.0.0.1', () => sock.write('HELLO\n'));
sock.on('data', () => {});
sock.on('end', () => {
  const server = net.createServer((conn) => conn.end()).listen(0, '127.0.0.1', () => {
    const c = net.connect(server.address().port, '127.0.0.1');
    c.on('data', () => {});
    c.on('end', () => {
      c.end();
      server.close(() => console.log('done'));
    });
  });
});
