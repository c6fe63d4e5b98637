// SAML for the integration tests: signed SAML Responses made with the xmlsec1 command-line
// tool (a signer independent of stepgate), and a small test identity provider on node:http
// that a real browser signs in to.
//
//   const xml = signedSamlResponse({ dir, requestId, destination: acsUrl,
//                                    issuer: idpEntityId, audience: spEntityId,
//                                    subject: 'alice@example.test', groups: ['ops'] });
//
//   const idp = await startSamlIdp({
//     entityId: 'https://idp.example.test/saml',      // the Issuer of its responses
//     spEntityId, acsUrl,                              // the one SP it serves
//     users: { alice: { password: 'pw', subject: 'alice@example.test', groups: ['ops'] } },
//   });
//   idp.ssoUrl      // http://127.0.0.1:N/sso, for sso.saml.idp_sso_url
//   idp.certFile    // its signing certificate, for sso.saml.idp_cert
//   idp.events      // what happened: {type: 'request'|'login'|'refused', ...}
//   await idp.close();
//
// The IdP: GET /sso?SAMLRequest=...&RelayState=... (HTTP-Redirect binding: base64 of raw
// DEFLATE) takes an AuthnRequest whose Issuer is spEntityId and whose
// AssertionConsumerServiceURL is acsUrl (anything else is 400), keeps it server side under a
// random transaction id and answers a login form (#username, #password, #login). POST
// /sso/login with a known user's password answers an HTML page that posts the signed
// Response to the ACS (HTTP-POST binding: SAMLResponse, RelayState), by script and by a
// visible button (#continue); a wrong password is 401 with the form again. A transaction is
// used once. The responses are signed with tests/fixtures/saml/idp-key.pem (the Assertion
// carries the signature) unless keyFile/certFile name others.

import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';

import { makeTempDir } from './config.mjs';
import { HOST, sourceDir, withTimeout } from './util.mjs';

export const FIXTURES = path.join(sourceDir(), 'tests/fixtures/saml');
export const IDP_KEY = path.join(FIXTURES, 'idp-key.pem');
export const IDP_CERT = path.join(FIXTURES, 'idp-cert.pem');

const XMLSEC_TIMEOUT_MS = 10000;
const MAX_REQUEST_XML = 64 * 1024;
const MAX_FORM_BYTES = 16 * 1024;
const TRANSACTION_TTL_MS = 10 * 60 * 1000;

const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export function xmlEscape(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function xmlUnescape(s) {
  return s.replace(/&(lt|gt|quot|apos|amp);/g,
    (_, e) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' })[e]);
}

const htmlEscape = xmlEscape;

/**
 * A SAML Response for `requestId`, signed with xmlsec1 (the Assertion carries the
 * signature). Options: dir (where the files xmlsec1 reads and writes go), requestId,
 * destination (the ACS URL: Destination and Recipient), issuer (the IdP's entity id),
 * audience (the SP's entity id), subject (the NameID), groups (values of the attribute
 * `groupsAttribute`, default 'groups'), lifetimeMs (300000), keyFile and certFile (the
 * fixtures' IdP key and certificate). Returns the signed XML.
 */
export function signedSamlResponse({
  dir, requestId, destination, issuer, audience, subject, groups = [],
  groupsAttribute = 'groups', lifetimeMs = 300000, keyFile = IDP_KEY, certFile = IDP_CERT,
}) {
  for (const [name, v] of Object.entries({ dir, requestId, destination, issuer, audience,
    subject })) {
    if (!v) throw new Error(`signedSamlResponse: ${name} is required`);
  }
  const n = randomBytes(8).toString('hex');
  const t = Date.now();
  const sig = `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>`
    + `<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>`
    + `<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>`
    + `<ds:Reference URI="#_a${n}"><ds:Transforms>`
    + `<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>`
    + `<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>`
    + `<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>`
    + `<ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo>`
    + `<ds:SignatureValue></ds:SignatureValue></ds:Signature>`;
  const values = groups.map((g) => `<saml:AttributeValue>${xmlEscape(g)}</saml:AttributeValue>`)
    .join('');
  const acs = xmlEscape(destination);
  const inResponseTo = xmlEscape(requestId);
  const idp = xmlEscape(issuer);
  const xml = `<?xml version="1.0" encoding="UTF-8"?>
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r${n}" Version="2.0" IssueInstant="${iso(t)}" Destination="${acs}" InResponseTo="${inResponseTo}">
  <saml:Issuer>${idp}</saml:Issuer>
  <samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
  <saml:Assertion ID="_a${n}" Version="2.0" IssueInstant="${iso(t)}">
    <saml:Issuer>${idp}</saml:Issuer>${sig}
    <saml:Subject>
      <saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">${xmlEscape(subject)}</saml:NameID>
      <saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
        <saml:SubjectConfirmationData NotOnOrAfter="${iso(t + lifetimeMs)}" Recipient="${acs}" InResponseTo="${inResponseTo}"/>
      </saml:SubjectConfirmation>
    </saml:Subject>
    <saml:Conditions NotBefore="${iso(t - 60000)}" NotOnOrAfter="${iso(t + lifetimeMs)}">
      <saml:AudienceRestriction><saml:Audience>${xmlEscape(audience)}</saml:Audience></saml:AudienceRestriction>
    </saml:Conditions>
    <saml:AuthnStatement AuthnInstant="${iso(t)}" SessionIndex="_s${n}">
      <saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext>
    </saml:AuthnStatement>
    <saml:AttributeStatement>
      <saml:Attribute Name="${xmlEscape(groupsAttribute)}">${values}</saml:Attribute>
    </saml:AttributeStatement>
  </saml:Assertion>
</samlp:Response>
`;
  const unsigned = path.join(dir, `resp-${n}.xml`);
  const signed = path.join(dir, `resp-${n}-signed.xml`);
  fs.writeFileSync(unsigned, xml);
  try {
    execFileSync('xmlsec1', ['--sign', '--privkey-pem', `${keyFile},${certFile}`,
      '--id-attr:ID', 'urn:oasis:names:tc:SAML:2.0:assertion:Assertion',
      '--output', signed, unsigned], { stdio: 'pipe', timeout: XMLSEC_TIMEOUT_MS });
  } catch (err) {
    const detail = err.code === 'ENOENT'
      ? 'the xmlsec1 command is missing; install it with: apt-get install -y xmlsec1'
      : `${err.message}\n${err.stderr ?? ''}`;
    throw new Error(`signing a SAML Response failed: ${detail}`);
  }
  return fs.readFileSync(signed, 'utf8');
}

// ---- the AuthnRequest ---------------------------------------------------------------------

const NCNAME = /^[A-Za-z_][A-Za-z0-9._-]*$/;

/**
 * Decodes an HTTP-Redirect SAMLRequest and reads the AuthnRequest's ID,
 * AssertionConsumerServiceURL, Destination and Issuer. Throws on anything that is not one
 * well-formed-looking AuthnRequest (no DOCTYPE, one root element).
 */
export function parseAuthnRequest(samlRequest) {
  if (typeof samlRequest !== 'string' || samlRequest === '') throw new Error('no SAMLRequest');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(samlRequest)) throw new Error('SAMLRequest is not base64');
  let xml;
  try {
    xml = zlib.inflateRawSync(Buffer.from(samlRequest, 'base64'),
      { maxOutputLength: MAX_REQUEST_XML }).toString('utf8');
  } catch (err) {
    throw new Error(`SAMLRequest does not inflate: ${err.message}`);
  }
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw new Error('DOCTYPE in the AuthnRequest');
  const root = /^\s*(?:<\?xml[^>]*\?>\s*)?<(?:([A-Za-z_][\w.-]*):)?AuthnRequest(\s[^>]*)>/
    .exec(xml);
  if (!root) throw new Error('the root element is not an AuthnRequest');
  const prefix = root[1] ? `${root[1]}:` : '';
  const attrs = {};
  for (const m of root[2].matchAll(/([A-Za-z_][\w.:-]*)\s*=\s*"([^"]*)"/g)) {
    if (m[1] in attrs) throw new Error(`attribute ${m[1]} twice`);
    attrs[m[1]] = xmlUnescape(m[2]);
  }
  const closing = `</${prefix}AuthnRequest>`;
  if (!xml.trimEnd().endsWith(closing) || xml.indexOf(closing) !== xml.lastIndexOf(closing)) {
    throw new Error('the AuthnRequest is not one element');
  }
  if (attrs[`xmlns${root[1] ? `:${root[1]}` : ''}`] !== 'urn:oasis:names:tc:SAML:2.0:protocol') {
    throw new Error('the AuthnRequest is not in the SAML 2.0 protocol namespace');
  }
  if (attrs.Version !== '2.0') throw new Error('Version is not 2.0');
  if (!attrs.ID || !NCNAME.test(attrs.ID)) throw new Error('no valid ID');
  const issuerElement =
    /<(?:[A-Za-z_][\w.-]*:)?Issuer(?:\s[^>]*)?>([^<]*)<\/(?:[A-Za-z_][\w.-]*:)?Issuer>/g;
  const issuers = [...xml.matchAll(issuerElement)];
  if (issuers.length !== 1) throw new Error('not exactly one Issuer');
  return {
    id: attrs.ID,
    acsUrl: attrs.AssertionConsumerServiceURL,
    destination: attrs.Destination,
    protocolBinding: attrs.ProtocolBinding,
    issuer: xmlUnescape(issuers[0][1].trim()),
    xml,
  };
}

// ---- the identity provider ----------------------------------------------------------------

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${htmlEscape(title)}</title></head>
<body>
<h1 id="idp-title">${htmlEscape(title)}</h1>
${body}
</body></html>
`;
}

function loginForm(txn, error) {
  const message = error ? `<p id="error">${htmlEscape(error)}</p>\n` : '';
  return page('Test IdP sign-in', `${message}<form id="login-form" method="post" action="/sso/login">
<input type="hidden" name="txn" value="${htmlEscape(txn)}">
<label>User name <input id="username" name="username" autocomplete="username"></label>
<label>Password
<input id="password" name="password" type="password" autocomplete="current-password"></label>
<button id="login" type="submit">Sign in</button>
</form>`);
}

function postBindingPage(acsUrl, samlResponseB64, relayState) {
  const relay = relayState === undefined ? ''
    : `<input type="hidden" name="RelayState" value="${htmlEscape(relayState)}">\n`;
  return page('Signing you in', `<form id="saml-post" method="post" action="${htmlEscape(acsUrl)}">
<input type="hidden" name="SAMLResponse" value="${htmlEscape(samlResponseB64)}">
${relay}<button id="continue" type="submit">Continue</button>
</form>
<script>document.getElementById('saml-post').submit();</script>`);
}

function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * Starts the IdP on 127.0.0.1 with an ephemeral port. Options: entityId, spEntityId, acsUrl
 * (required), users ({name: {password, subject?, groups?}}; subject defaults to the name),
 * groupsAttribute ('groups'), keyFile/certFile (the fixtures' IdP key pair), dir (where
 * responses are signed; a temporary folder by default, removed by close()).
 * Resolves to { port, url, ssoUrl, entityId, certFile, events, close() }.
 */
export async function startSamlIdp({
  entityId, spEntityId, acsUrl, users = {}, groupsAttribute = 'groups', keyFile = IDP_KEY,
  certFile = IDP_CERT, dir,
}) {
  if (!entityId || !spEntityId || !acsUrl) {
    throw new Error('startSamlIdp: entityId, spEntityId and acsUrl are required');
  }
  const ownDir = dir === undefined;
  const workDir = dir ?? makeTempDir('stepgate-saml-idp-');
  const transactions = new Map();  // txn -> {requestId, relayState, created}
  const events = [];
  let ssoUrl;

  const send = (res, status, body, type = 'text/html; charset=utf-8') => {
    res.writeHead(status, {
      'Content-Type': type,
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
    });
    res.end(body);
  };
  const refuse = (res, status, why) => {
    events.push({ type: 'refused', status, why });
    send(res, status, page('Refused', `<p id="error">${htmlEscape(why)}</p>`));
  };

  const handleSso = (url, res) => {
    let request;
    try {
      request = parseAuthnRequest(url.searchParams.get('SAMLRequest'));
    } catch (err) {
      refuse(res, 400, err.message);
      return;
    }
    if (request.issuer !== spEntityId) {
      refuse(res, 400, `unknown service provider ${request.issuer}`);
      return;
    }
    if (request.acsUrl !== acsUrl) {
      refuse(res, 400, `unexpected AssertionConsumerServiceURL ${request.acsUrl}`);
      return;
    }
    if (request.destination !== undefined && request.destination !== ssoUrl) {
      refuse(res, 400, `unexpected Destination ${request.destination}`);
      return;
    }
    if (request.protocolBinding !== undefined &&
        request.protocolBinding !== 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST') {
      refuse(res, 400, `unsupported ProtocolBinding ${request.protocolBinding}`);
      return;
    }
    const relayState = url.searchParams.get('RelayState') ?? undefined;
    if (relayState !== undefined && Buffer.byteLength(relayState) > 80) {
      refuse(res, 400, 'RelayState longer than 80 bytes');
      return;
    }
    const txn = randomBytes(16).toString('base64url');
    transactions.set(txn, { requestId: request.id, relayState, created: Date.now() });
    events.push({ type: 'request', requestId: request.id, relayState });
    send(res, 200, loginForm(txn));
  };

  const handleLogin = async (req, res) => {
    if (!/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')) {
      refuse(res, 415, 'the login form is application/x-www-form-urlencoded');
      return;
    }
    const form = new URLSearchParams(await readBody(req, MAX_FORM_BYTES));
    const txn = form.get('txn') ?? '';
    const pending = transactions.get(txn);
    if (!pending || Date.now() - pending.created > TRANSACTION_TTL_MS) {
      transactions.delete(txn);
      refuse(res, 400, 'unknown or expired sign-in; start again at the application');
      return;
    }
    const username = form.get('username') ?? '';
    const user = Object.hasOwn(users, username) ? users[username] : undefined;
    if (!user || form.get('password') !== user.password) {
      events.push({ type: 'login', ok: false, username, requestId: pending.requestId });
      send(res, 401, loginForm(txn, 'Wrong user name or password.'));
      return;
    }
    transactions.delete(txn);
    const xml = signedSamlResponse({
      dir: workDir, requestId: pending.requestId, destination: acsUrl, issuer: entityId,
      audience: spEntityId, subject: user.subject ?? username, groups: user.groups ?? [],
      groupsAttribute, keyFile, certFile,
    });
    events.push({ type: 'login', ok: true, username, requestId: pending.requestId });
    send(res, 200, postBindingPage(acsUrl, Buffer.from(xml).toString('base64'),
      pending.relayState));
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, `http://${HOST}`);
    const route = `${req.method} ${url.pathname}`;
    Promise.resolve().then(() => {
      if (route === 'GET /sso') return handleSso(url, res);
      if (route === 'POST /sso/login') return handleLogin(req, res);
      if (url.pathname === '/sso' || url.pathname === '/sso/login') {
        return refuse(res, 405, `${req.method} is not allowed here`);
      }
      return refuse(res, 404, 'not found');
    }).catch((err) => {
      if (!res.headersSent) refuse(res, 500, err.message);
      else res.destroy();
    });
  });
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await withTimeout(new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, resolve);
  }), 5000, 'saml idp listen');
  const { port } = server.address();
  const base = `http://${HOST}:${port}`;
  ssoUrl = `${base}/sso`;

  return {
    port,
    url: base,
    ssoUrl,
    entityId,
    certFile,
    events,
    async close() {
      const closed = new Promise((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await withTimeout(closed, 5000, 'saml idp close');
      if (ownDir) fs.rmSync(workDir, { recursive: true, force: true });
    },
  };
}
