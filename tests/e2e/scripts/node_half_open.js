// A client that keeps its net.Socket half-open (allowHalfOpen) after the
// server hung up, twice from one line: two CLOSE_WAIT leaks whose
// JavaScript frame is Feed.open. Usage: node node_half_open.js PORT
'use strict';
const net = require('net');

const pool = [];

class Feed {
  constructor(port) {
    this.port = port;
  }

  open(done) {
    const sock = net.connect({ port: this.port, host: '127.0.0.1', allowHalfOpen: true }); // LEAK-SITE
    sock.on('data', (d) => process.stdout.write(d));
    sock.on('end', () => {   // the server hung up; BUG: never sock.end()
      pool.push(sock);
      done();
    });
    sock.write('SUBSCRIBE ACME\n');
  }
}

const feed = new Feed(Number(process.argv[2]));
let ended = 0;
for (let i = 0; i < 2; i++) {
  feed.open(() => {
    if (++ended === 2) setTimeout(() => process.exit(0), 100);
  });
}
