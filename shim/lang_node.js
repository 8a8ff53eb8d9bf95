// sockleak-node.js -- preloaded into node by libsockleak.so (NODE_OPTIONS
// --require) so that each socket's report names the JavaScript that made it.
//
// node creates a TCP socket a tick after the program calls connect() (after
// dns.lookup) and accepts from the event loop, so the stack at socket(2) has
// no user frames. Instead this file records the caller's frames where the
// program calls net.Socket#connect, net.Server#listen and dgram's bind/send,
// and hands them to the shim, with the fd, the moment node creates the fd:
// a synchronous readlink() of a path the shim recognises (no addon).
//
// It must change nothing a program can observe in normal use, and it fails
// closed: if anything it relies on is missing or different, it does nothing.
'use strict';
(function sockleakPreload() {
  const MAGIC = '/\u0001sockleak/';
  // V8 makes a CallSite per frame (~1.5 us each): 16 frames reach past
  // http's and tls's own frames into the program's.
  const MAX_FRAMES = 16;
  const MAX_TEXT = 200;
  const MAX_MESSAGE = 3800;

  // Leave NODE_OPTIONS as the program's environment had it: the shim
  // appended exactly this, and children get it again from the shim.
  function restoreNodeOptions() {
    const opts = process.env.NODE_OPTIONS;
    const mine = ' --require "' + __filename + '"';
    if (typeof opts !== 'string') return;
    const at = opts.lastIndexOf(mine);
    if (at < 0 || at + mine.length !== opts.length) return;
    const before = opts.slice(0, at);
    if (before === '') delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = before;
  }

  let fs, net, dgram, tcpWrap, udpWrap;
  try {
    restoreNodeOptions();
    const major = Number(process.versions.node.split('.')[0]);
    // process.binding would print a deprecation warning with these.
    const noisy = process.execArgv.concat((process.env.NODE_OPTIONS || '').split(/\s+/))
      .some((a) => a === '--pending-deprecation' || a === '--throw-deprecation');
    if (!(major >= 16 && major <= 22) || noisy || process.env.NODE_PENDING_DEPRECATION === '1')
      return;
    fs = require('fs');
    net = require('net');
    dgram = require('dgram');
    tcpWrap = process.binding('tcp_wrap');
    udpWrap = process.binding('udp_wrap');
    if (fs.readlinkSync(MAGIC + 'hello') !== 'sockleak1') return;
  } catch (e) {
    return;
  }

  const TCP = tcpWrap && tcpWrap.TCP;
  const UDP = udpWrap && udpWrap.UDP;
  const checks = [
    TCP && typeof TCP.prototype.connect === 'function',
    TCP && typeof TCP.prototype.connect6 === 'function',
    TCP && typeof TCP.prototype.listen === 'function',
    UDP && typeof UDP.prototype.bind === 'function',
    UDP && typeof UDP.prototype.bind6 === 'function',
    typeof net.Socket.prototype.connect === 'function',
    typeof net.Server.prototype.listen === 'function',
    typeof dgram.Socket.prototype.bind === 'function',
    typeof dgram.Socket.prototype.send === 'function',
    typeof Error.captureStackTrace === 'function',
  ];
  if (checks.some((ok) => !ok)) return;

  const FRAME_CACHE_MAX = 4096;
  const frameCache = new Map();     // "file\x1fline\x1fcolumn" -> frame text
  const creators = new WeakMap();   // net.Socket / net.Server / dgram.Socket -> frames
  let ownerSymbol = null;

  // eslint-disable-next-line no-control-regex
  const CONTROL = /[\u0000-\u001f]/;
  function clean(s) {
    s = String(s);
    // eslint-disable-next-line no-control-regex
    if (CONTROL.test(s)) s = s.replace(/[\u0000-\u001f]/g, ' ');
    return s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) : s;
  }

  // V8's CallSite getters are slow (getTypeName and getMethodName search
  // the receiver): node's own frames get their function name only.
  function frameName(site, file) {
    const fn = site.getFunctionName();
    if (file.startsWith('node:')) return fn || '<anonymous>';
    if (site.isConstructor()) return 'new ' + (fn || '<anonymous>');
    if (site.isToplevel()) return fn || '<anonymous>';
    const type = site.getTypeName();
    const method = fn || site.getMethodName() || '<anonymous>';
    // as V8 prints it: "Client.connect", not "Module.Module._compile"
    if (!type || type === 'Object' || method.startsWith(type + '.')) return method;
    return type + '.' + method;
  }

  // The caller's frames, innermost first, without this file's.
  function capture() {
    const prepare = Error.prepareStackTrace;
    const limit = Error.stackTraceLimit;
    const holder = {};
    let sites;
    try {
      Error.prepareStackTrace = (e, s) => s;
      Error.stackTraceLimit = MAX_FRAMES + 1;   // + this file's wrapper
      Error.captureStackTrace(holder, capture);
      sites = holder.stack;
    } finally {
      Error.prepareStackTrace = prepare;
      Error.stackTraceLimit = limit;
    }
    if (!Array.isArray(sites)) return null;
    const frames = [];
    for (const site of sites) {
      const file = site.getFileName() || '';
      if (file === __filename) continue;
      // Position getters are cheap, names are not: one name per position.
      const key = file + '\u001f' + (site.getLineNumber() || 0) + '\u001f' + (site.getColumnNumber() || 0);
      let frame = frameCache.get(key);
      if (frame === undefined) {
        frame = clean(frameName(site, file)) + '\u001f' + clean(file) + '\u001f' +
                (site.getLineNumber() || 0) + '\u001f' + (site.getColumnNumber() || 0);
        if (frameCache.size < FRAME_CACHE_MAX) frameCache.set(key, frame);
      }
      frames.push(frame);
      if (frames.length === MAX_FRAMES) break;
    }
    return frames.length ? frames : null;
  }

  function remember(obj) {
    try {
      if (obj && !creators.has(obj)) {
        const frames = capture();
        if (frames) creators.set(obj, frames);
      }
    } catch (e) { /* never the program's problem */ }
  }

  // Hand fd's creation frames to the shim.
  function tell(fd, frames) {
    if (typeof fd !== 'number' || fd < 0 || !frames) return;
    let msg = MAGIC + 'fd\u001f' + fd;
    for (const f of frames) {
      if (msg.length + f.length + 1 > MAX_MESSAGE) break;
      msg += '\u001e' + f;
    }
    try { fs.readlinkSync(msg); } catch (e) { /* not tracked: nothing to do */ }
  }

  function ownerOf(handle) {
    if (ownerSymbol === null) {
      ownerSymbol = Object.getOwnPropertySymbols(handle)
        .find((s) => s.description === 'owner_symbol') || undefined;
    }
    return ownerSymbol ? handle[ownerSymbol] : undefined;
  }

  // Replace obj[name] with a function that behaves the same (name, length,
  // result, exceptions) and calls after(this, args, result) once it returned.
  function wrap(obj, name, before, after) {
    const orig = obj[name];
    const wrapped = {
      [name](...args) {
        if (before) before(this, args);
        const result = orig.apply(this, args);
        if (after) {
          try { after(this, args, result); } catch (e) { /* ignore */ }
        }
        return result;
      },
    }[name];
    Object.defineProperty(wrapped, 'length', { value: orig.length });
    Object.defineProperty(obj, name, {
      value: wrapped, writable: true, configurable: true,
      enumerable: Object.getOwnPropertyDescriptor(obj, name).enumerable,
    });
  }

  // Where the program asks for a socket.
  wrap(net.Socket.prototype, 'connect', (self) => remember(self));
  wrap(net.Server.prototype, 'listen', (self) => remember(self));
  wrap(dgram.Socket.prototype, 'bind', (self) => remember(self));
  wrap(dgram.Socket.prototype, 'send', (self) => remember(self));

  // Where node makes the fd (the handle methods return 0 on success).
  const connected = (handle, args, rc) => {
    if (rc === 0) tell(handle.fd, creators.get(ownerOf(handle)));
  };
  wrap(TCP.prototype, 'connect', null, connected);
  wrap(TCP.prototype, 'connect6', null, connected);
  wrap(UDP.prototype, 'bind', null, connected);
  wrap(UDP.prototype, 'bind6', null, connected);
  wrap(TCP.prototype, 'listen', null, (handle, args, rc) => {
    const frames = creators.get(ownerOf(handle));
    if (rc !== 0 || !frames) return;
    tell(handle.fd, frames);
    const onconnection = handle.onconnection;
    if (typeof onconnection !== 'function') return;
    // Accepted sockets: the frames where their server was set up.
    handle.onconnection = function onconnection_(err, client) {
      if (client && typeof client.fd === 'number') tell(client.fd, frames);
      return onconnection.apply(this, arguments);
    };
  });
})();
