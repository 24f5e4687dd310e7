//! TPM commands as bytes, for what the TSS cannot send: a vendor command
//! (NitroTPM's NSM request) authorized by an HMAC session salted to the
//! EK. The session is TPM 2.0 Part 1's: the salt encrypted to the EK with
//! RSA-OAEP (label `SECRET`), the session key from KDFa (label `ATH`), the
//! command authorized by an HMAC over its cpHash, and the response checked
//! by the HMAC over its rpHash. Standard commands under the same session
//! (`TPM2_NV_Write`) let the tests check all of it against swtpm.
//!
//! The raw channel is its own connection: on `/dev/tpmrm0` the kernel's
//! resource manager keeps it apart from the TSS's; swtpm serves one
//! connection at a time, so there the TSS's must be closed first.

use std::io::{Read, Write};

use blindfold_crypto::{CryptoProvider, HashAlg, PublicKey};

use crate::error::Error;

/// `TPM_ST_NO_SESSIONS`.
pub const ST_NO_SESSIONS: u16 = 0x8001;
/// `TPM_ST_SESSIONS`.
pub const ST_SESSIONS: u16 = 0x8002;
/// `TPM_CC_StartAuthSession`.
pub const CC_START_AUTH_SESSION: u32 = 0x0000_0176;
/// `TPM_CC_FlushContext`.
pub const CC_FLUSH_CONTEXT: u32 = 0x0000_0165;
/// `TPM_CC_NV_Write`.
pub const CC_NV_WRITE: u32 = 0x0000_0137;
const RH_NULL: u32 = 0x4000_0007;
const ALG_NULL: u16 = 0x0010;
const SE_HMAC: u8 = 0x00;
/// `continueSession`: the session outlives the command (flushed by us).
const CONTINUE_SESSION: u8 = 0x01;
/// The hash of the session (and of cpHash and rpHash).
const SESSION_HASH: HashAlg = HashAlg::Sha512;

enum Transport {
    Device(std::fs::File),
    Socket(std::net::TcpStream),
}

/// A connection that carries command bytes to the TPM and response bytes back.
pub struct RawTpm {
    transport: Transport,
}

impl std::fmt::Debug for RawTpm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawTpm")
    }
}

impl RawTpm {
    /// Opens the TPM a TCTI string names: `device:/dev/tpmrm0`, or
    /// `swtpm:host=H,port=P` (swtpm's command port takes raw commands).
    pub fn open(tcti: &str) -> Result<RawTpm, Error> {
        let io = |e: std::io::Error| Error::Io(format!("opening {tcti}: {e}"));
        if let Some(path) = tcti.strip_prefix("device:") {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(io)?;
            return Ok(RawTpm {
                transport: Transport::Device(file),
            });
        }
        if let Some(conf) = tcti.strip_prefix("swtpm:") {
            let mut host = "127.0.0.1";
            let mut port = "2321";
            for part in conf.split(',') {
                match part.split_once('=') {
                    Some(("host", h)) => host = h,
                    Some(("port", p)) => port = p,
                    _ => {}
                }
            }
            let socket = std::net::TcpStream::connect(format!("{host}:{port}")).map_err(io)?;
            // swtpm answers one connection at a time: while another holds
            // it, fail rather than wait for ever.
            socket
                .set_read_timeout(Some(std::time::Duration::from_secs(30)))
                .map_err(io)?;
            return Ok(RawTpm {
                transport: Transport::Socket(socket),
            });
        }
        Err(Error::Io(format!(
            "raw TPM commands need a device: or swtpm: TCTI, not {tcti:?}"
        )))
    }

    /// Sends `command` and returns the whole response, sending it again
    /// (as the TSS does) while the TPM answers `TPM_RC_RETRY`,
    /// `TPM_RC_YIELDED` or `TPM_RC_TESTING`: it has not run the command.
    pub fn transact(&mut self, command: &[u8]) -> Result<Vec<u8>, Error> {
        const RETRY: u32 = 0x922;
        const YIELDED: u32 = 0x908;
        const TESTING: u32 = 0x90A;
        let mut attempt = 0;
        loop {
            let response = self.send(command)?;
            let code = response
                .get(6..10)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            attempt += 1;
            match code {
                Some(RETRY | YIELDED | TESTING) if attempt < 10 => {
                    std::thread::sleep(std::time::Duration::from_millis(20 * attempt));
                }
                _ => return Ok(response),
            }
        }
    }

    fn send(&mut self, command: &[u8]) -> Result<Vec<u8>, Error> {
        let io = |e: std::io::Error| Error::Io(format!("TPM transport: {e}"));
        match &mut self.transport {
            Transport::Device(file) => {
                file.write_all(command).map_err(io)?;
                // The kernel hands over a whole response in one read.
                let mut buf = vec![0u8; 8192];
                let n = file.read(&mut buf).map_err(io)?;
                buf.truncate(n);
                Ok(buf)
            }
            Transport::Socket(socket) => {
                socket.write_all(command).map_err(io)?;
                let mut header = [0u8; 10];
                socket.read_exact(&mut header).map_err(io)?;
                let size = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
                if !(10..=65536).contains(&size) {
                    return Err(Error::Io(format!("TPM response of {size} bytes")));
                }
                let mut rest = vec![0u8; size - 10];
                socket.read_exact(&mut rest).map_err(io)?;
                Ok([header.to_vec(), rest].concat())
            }
        }
    }
}

/// A command's bytes (TPM 2.0 Part 1, 18: header, handles, authorization
/// area when tagged with sessions, parameters).
pub fn command(tag: u16, code: u32, handles: &[u32], auth: Option<&[u8]>, params: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for h in handles {
        body.extend_from_slice(&h.to_be_bytes());
    }
    if let Some(auth) = auth {
        body.extend_from_slice(&(auth.len() as u32).to_be_bytes());
        body.extend_from_slice(auth);
    }
    body.extend_from_slice(params);
    let mut out = Vec::with_capacity(10 + body.len());
    out.extend_from_slice(&tag.to_be_bytes());
    out.extend_from_slice(&((10 + body.len()) as u32).to_be_bytes());
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// A `TPM2B`: a 16-bit size, then the bytes.
pub fn tpm2b(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

/// Reads a response, failing on a non-zero response code; returns the
/// tag and the bytes after the header.
fn response_body(command: u32, response: &[u8]) -> Result<(u16, &[u8]), Error> {
    let bad = |why: &str| Error::RawResponse {
        command,
        why: why.to_string(),
    };
    if response.len() < 10 {
        return Err(bad("shorter than its header"));
    }
    let tag = u16::from_be_bytes([response[0], response[1]]);
    let size = u32::from_be_bytes([response[2], response[3], response[4], response[5]]) as usize;
    let code = u32::from_be_bytes([response[6], response[7], response[8], response[9]]);
    if size != response.len() {
        return Err(bad(&format!("size field {size}, {} bytes read", response.len())));
    }
    if code != 0 {
        return Err(Error::RawCommand { command, code });
    }
    Ok((tag, &response[10..]))
}

/// A cursor over response bytes.
struct Reader<'a> {
    command: u32,
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.bytes.len() < n {
            return Err(Error::RawResponse {
                command: self.command,
                why: "cut short".into(),
            });
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }
    fn u32(&mut self) -> Result<u32, Error> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u16(&mut self) -> Result<u16, Error> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn tpm2b(&mut self) -> Result<&'a [u8], Error> {
        let n = self.u16()? as usize;
        self.take(n)
    }
}

/// KDFa (TPM 2.0 Part 1, 11.4.10.2): counter-mode HMAC with `alg`.
pub fn kdfa(
    provider: &dyn CryptoProvider,
    alg: HashAlg,
    key: &[u8],
    label: &str,
    context_u: &[u8],
    context_v: &[u8],
    bits: u32,
) -> Vec<u8> {
    let want = bits.div_ceil(8) as usize;
    let mut out = Vec::with_capacity(want + alg.output_len());
    let mut counter: u32 = 1;
    while out.len() < want {
        let block = provider.hmac(
            alg,
            key,
            &[
                &counter.to_be_bytes(),
                label.as_bytes(),
                &[0],
                context_u,
                context_v,
                &bits.to_be_bytes(),
            ],
        );
        out.extend_from_slice(block.as_bytes());
        counter += 1;
    }
    out.truncate(want);
    out
}

/// How much of a response [`SaltedSession::run`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseCheck {
    /// The response code and the response HMAC.
    Hmac,
    /// The response code only.
    CodeOnly,
}

/// A command under a session: its code, handles, the handles' names
/// (cpHash covers them), parameters, and the first handle's auth value.
#[derive(Debug, Clone, Copy)]
pub struct SessionCommand<'a> {
    /// The command code.
    pub code: u32,
    /// The handle area.
    pub handles: &'a [u32],
    /// Each handle's name, in order.
    pub names: &'a [&'a [u8]],
    /// The parameter area.
    pub params: &'a [u8],
    /// The authorized handle's auth value.
    pub auth_value: &'a [u8],
}

/// An HMAC session salted to a key the TPM holds (TPM 2.0 Part 1, 19.6.11).
pub struct SaltedSession {
    handle: u32,
    key: Vec<u8>,
    nonce_tpm: Vec<u8>,
    provider: &'static dyn CryptoProvider,
}

impl std::fmt::Debug for SaltedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SaltedSession({:#010x})", self.handle)
    }
}

fn random(n: usize) -> Result<Vec<u8>, Error> {
    let mut out = vec![0u8; n];
    getrandom::getrandom(&mut out).map_err(|e| Error::Io(format!("no randomness: {e}")))?;
    Ok(out)
}

impl SaltedSession {
    /// Starts an HMAC session (SHA-512, no parameter encryption) salted to
    /// the RSA key at `salt_key_handle` whose public key is `salt_key` and
    /// whose name algorithm is `salt_name_alg` (SHA-256 for the EK).
    pub fn start(
        tpm: &mut RawTpm,
        salt_key_handle: u32,
        salt_key: &PublicKey,
        salt_name_alg: HashAlg,
        provider: &'static dyn CryptoProvider,
    ) -> Result<SaltedSession, Error> {
        let nonce_caller = random(SESSION_HASH.output_len())?;
        let salt = random(salt_name_alg.output_len())?;
        let encrypted_salt = provider.rsa_oaep_encrypt(salt_key, salt_name_alg, b"SECRET\0", &salt)?;
        let mut params = tpm2b(&nonce_caller);
        params.extend_from_slice(&tpm2b(&encrypted_salt));
        params.push(SE_HMAC);
        params.extend_from_slice(&ALG_NULL.to_be_bytes());
        params.extend_from_slice(&SESSION_HASH.tpm_alg_id().to_be_bytes());
        let response = tpm.transact(&command(
            ST_NO_SESSIONS,
            CC_START_AUTH_SESSION,
            &[salt_key_handle, RH_NULL],
            None,
            &params,
        ))?;
        let (_, body) = response_body(CC_START_AUTH_SESSION, &response)?;
        let mut r = Reader {
            command: CC_START_AUTH_SESSION,
            bytes: body,
        };
        let handle = r.u32()?;
        let nonce_tpm = r.tpm2b()?.to_vec();
        let key = kdfa(
            provider,
            SESSION_HASH,
            &salt,
            "ATH",
            &nonce_tpm,
            &nonce_caller,
            (SESSION_HASH.output_len() * 8) as u32,
        );
        Ok(SaltedSession {
            handle,
            key,
            nonce_tpm,
            provider,
        })
    }

    /// The session's handle.
    pub fn handle(&self) -> u32 {
        self.handle
    }

    /// Runs `command`, its first handle authorized by this session with
    /// its auth value; checks the response as `check` says and returns its
    /// parameters (none with [`ResponseCheck::CodeOnly`]).
    pub fn run(
        &mut self,
        tpm: &mut RawTpm,
        command: &SessionCommand<'_>,
        check: ResponseCheck,
    ) -> Result<Vec<u8>, Error> {
        let SessionCommand {
            code,
            handles,
            names,
            params,
            auth_value,
        } = *command;
        let code_bytes = code.to_be_bytes();
        let mut cp = vec![&code_bytes[..]];
        cp.extend_from_slice(names);
        cp.push(params);
        let cp_hash = self.provider.hash(SESSION_HASH, &cp);
        let nonce_caller = random(SESSION_HASH.output_len())?;
        // The auth value without trailing zeros (Part 1, 19.6.5).
        let auth_value = &auth_value[..auth_value.iter().rposition(|b| *b != 0).map_or(0, |p| p + 1)];
        let hmac_key = [&self.key[..], auth_value].concat();
        let hmac = self.provider.hmac(
            SESSION_HASH,
            &hmac_key,
            &[
                cp_hash.as_bytes(),
                &nonce_caller,
                &self.nonce_tpm,
                &[CONTINUE_SESSION],
            ],
        );
        let mut area = self.handle.to_be_bytes().to_vec();
        area.extend_from_slice(&tpm2b(&nonce_caller));
        area.push(CONTINUE_SESSION);
        area.extend_from_slice(&tpm2b(hmac.as_bytes()));
        let response = tpm.transact(&self::command(ST_SESSIONS, code, handles, Some(&area), params))?;
        let (tag, body) = response_body(code, &response)?;
        if check == ResponseCheck::CodeOnly {
            return Ok(Vec::new());
        }
        if tag != ST_SESSIONS {
            return Err(Error::RawResponse {
                command: code,
                why: format!("tag {tag:#06x} where sessions were sent"),
            });
        }
        let mut r = Reader {
            command: code,
            bytes: body,
        };
        let parameter_size = r.u32()? as usize;
        let out = r.take(parameter_size)?.to_vec();
        let nonce_tpm = r.tpm2b()?.to_vec();
        let attributes = r.take(1)?[0];
        let their_hmac = r.tpm2b()?;
        let rp_hash = self
            .provider
            .hash(SESSION_HASH, &[&0u32.to_be_bytes(), &code.to_be_bytes(), &out]);
        let expected = self.provider.hmac(
            SESSION_HASH,
            &hmac_key,
            &[rp_hash.as_bytes(), &nonce_tpm, &nonce_caller, &[attributes]],
        );
        if !blindfold_crypto::ct_eq(expected.as_bytes(), their_hmac) {
            return Err(Error::ResponseHmac { command: code });
        }
        self.nonce_tpm = nonce_tpm;
        Ok(out)
    }

    /// Flushes the session.
    pub fn flush(self, tpm: &mut RawTpm) -> Result<(), Error> {
        let response = tpm.transact(&command(
            ST_NO_SESSIONS,
            CC_FLUSH_CONTEXT,
            &[],
            None,
            &self.handle.to_be_bytes(),
        ))?;
        response_body(CC_FLUSH_CONTEXT, &response).map(|_| ())
    }
}
