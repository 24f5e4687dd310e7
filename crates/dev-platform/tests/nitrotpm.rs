//! NitroTPM's attestation-document path, as far as it can run here.
//! swtpm has no NSM vendor command, so: the HMAC session salted to the EK
//! that authorizes it is checked against swtpm with a standard command
//! (`TPM2_NV_Write` on a message buffer like the NSM's), the vendor
//! command is sent through the same pieces and refused by swtpm as an
//! unknown command code, and the request and response encodings are
//! checked against the NSM API types NitroTPM-Tools (de)serializes with
//! ciborium. The command has not run on EC2 from this code.
#![allow(clippy::unwrap_used, missing_docs)]

use aws_nitro_enclaves_nsm_api::api::{ErrorCode, Request, Response};
use blindfold_attester::nitro_tpm::{attestation_document, attestation_request, CC_AWS_NSM_REQUEST};
use blindfold_attester::raw::{self, RawTpm, ResponseCheck, SaltedSession, SessionCommand, CC_NV_WRITE};
use blindfold_attester::{session_secret, AkAlgorithm, Error, Tpm, EK_PERSISTENT_HANDLE};
use blindfold_crypto::{default_provider, HashAlg, PublicKey};
use blindfold_dev_platform::{init, start};

const BUFFER_FIRST: u32 = 0x0180_0000;

struct Buffer {
    index: u32,
    name: Vec<u8>,
    auth: Vec<u8>,
}

/// A platform with a persistent EK and an auth-protected message buffer
/// holding `content`; the TSS's connection is closed on return (swtpm
/// serves one connection at a time), so the raw channel can open.
fn platform_with_buffer(
    content: &[u8],
) -> (
    tempfile::TempDir,
    blindfold_dev_platform::RunningSwtpm,
    PublicKey,
    Buffer,
) {
    let dir = tempfile::tempdir().unwrap();
    init(&dir.path().join("p"), AkAlgorithm::Rsa2048).unwrap();
    let swtpm = start(&dir.path().join("p")).unwrap();
    let mut tpm = Tpm::open(swtpm.tcti()).unwrap();
    let ek = tpm.persistent_ek().unwrap();
    // Idempotent: a second call finds it.
    assert_eq!(tpm.persistent_ek().unwrap().key, ek.key);
    let auth = session_secret().unwrap();
    let (index, handle) = tpm.define_auth_nv(BUFFER_FIRST, 256, &auth).unwrap();
    if !content.is_empty() {
        tpm.write_auth_nv(handle, content).unwrap();
    }
    let name = tpm.nv_name(handle).unwrap();
    (dir, swtpm, ek.key, Buffer { index, name, auth })
}

fn nv_write_params(data: &[u8]) -> Vec<u8> {
    let mut params = raw::tpm2b(data);
    params.extend_from_slice(&0u16.to_be_bytes());
    params
}

/// A raw channel and a session on it salted to the EK.
fn salted(tcti: &str, ek: &PublicKey) -> (RawTpm, SaltedSession) {
    let mut channel = RawTpm::open(tcti).unwrap();
    let session = SaltedSession::start(
        &mut channel,
        EK_PERSISTENT_HANDLE,
        ek,
        HashAlg::Sha256,
        default_provider(),
    )
    .unwrap();
    (channel, session)
}

/// Runs `code` on the buffer (its auth and index handle) with `params`.
fn on_buffer(
    (channel, session): &mut (RawTpm, SaltedSession),
    buffer: &Buffer,
    code: u32,
    params: &[u8],
    auth_value: &[u8],
    check: ResponseCheck,
) -> Result<Vec<u8>, Error> {
    session.run(
        channel,
        &SessionCommand {
            code,
            handles: &[buffer.index, buffer.index],
            names: &[&buffer.name, &buffer.name],
            params,
            auth_value,
        },
        check,
    )
}

#[test]
fn a_session_salted_to_the_ek_authorizes_a_write_and_authenticates_the_answer() {
    // Written once through the TSS, so the index's name (which changes
    // with its first write) is the one every command below uses, as with
    // the NSM's buffer.
    let (_dir, swtpm, ek, buffer) = platform_with_buffer(&[0; 64]);
    let mut raw = salted(swtpm.tcti(), &ek);
    let data = b"written under a salted HMAC session";
    on_buffer(
        &mut raw,
        &buffer,
        CC_NV_WRITE,
        &nv_write_params(data),
        &buffer.auth,
        ResponseCheck::Hmac,
    )
    .unwrap();
    // The session goes on with the TPM's new nonce: a second command works.
    on_buffer(
        &mut raw,
        &buffer,
        CC_NV_WRITE,
        &nv_write_params(b"W"),
        &buffer.auth,
        ResponseCheck::Hmac,
    )
    .unwrap();
    let (mut channel, session) = raw;
    session.flush(&mut channel).unwrap();
    drop(channel);

    let mut tpm = Tpm::open(swtpm.tcti()).unwrap();
    let handle = tpm.auth_nv_handle(buffer.index, &buffer.auth).unwrap();
    let back = tpm.read_auth_nv(handle, data.len()).unwrap();
    assert_eq!(&back[1..], &data[1..]);
    assert_eq!(back[0], b'W');
}

#[test]
fn the_wrong_auth_value_is_refused_by_the_tpm() {
    let (_dir, swtpm, ek, buffer) = platform_with_buffer(&[]);
    let mut raw = salted(swtpm.tcti(), &ek);
    let mut wrong = buffer.auth.clone();
    wrong[0] ^= 1;
    let e = on_buffer(
        &mut raw,
        &buffer,
        CC_NV_WRITE,
        &nv_write_params(b"x"),
        &wrong,
        ResponseCheck::Hmac,
    )
    .unwrap_err();
    // TPM_RC_AUTH_FAIL for session 1.
    assert!(
        matches!(e, Error::RawCommand { command: CC_NV_WRITE, code } if code & 0xBF == 0x8E),
        "{e}"
    );
}

#[test]
fn a_salt_encrypted_to_another_key_starts_no_session() {
    let (_dir, swtpm, _ek, _buffer) = platform_with_buffer(&[]);
    let mut channel = RawTpm::open(swtpm.tcti()).unwrap();
    let other = PublicKey::rsa(&[0xC5; 256], 65537);
    let e = SaltedSession::start(
        &mut channel,
        EK_PERSISTENT_HANDLE,
        &other,
        HashAlg::Sha256,
        default_provider(),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::RawCommand {
                command: raw::CC_START_AUTH_SESSION,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn the_nsm_request_goes_out_as_nitrotpm_tools_sends_it_and_swtpm_does_not_know_it() {
    let nonce = [0x5A; 32];
    let public_key = b"an AK SubjectPublicKeyInfo".to_vec();
    let request = attestation_request(&nonce, &public_key);
    let (_dir, swtpm, ek, buffer) = platform_with_buffer(&request);
    let mut raw = salted(swtpm.tcti(), &ek);
    let e = on_buffer(
        &mut raw,
        &buffer,
        CC_AWS_NSM_REQUEST,
        &[],
        &buffer.auth,
        ResponseCheck::CodeOnly,
    )
    .unwrap_err();
    // TPM_RC_COMMAND_CODE: swtpm has no vendor commands.
    assert!(
        matches!(
            e,
            Error::RawCommand {
                command: CC_AWS_NSM_REQUEST,
                code: 0x143
            }
        ),
        "{e}"
    );
    let (mut channel, session) = raw;
    session.flush(&mut channel).unwrap();
}

#[test]
fn the_vendor_command_has_the_nitrotpm_tools_layout() {
    // Tag TPM_ST_SESSIONS, size, 0x20000001, the buffer as auth handle
    // and as NV index, the authorization area, no parameters.
    let area = [0xAA; 9];
    let bytes = raw::command(
        raw::ST_SESSIONS,
        CC_AWS_NSM_REQUEST,
        &[0x0180_0003, 0x0180_0003],
        Some(&area),
        &[],
    );
    let mut expected = vec![
        0x80, 0x02, 0, 0, 0, 31, 0x20, 0, 0, 1, 1, 0x80, 0, 3, 1, 0x80, 0, 3, 0, 0, 0, 9,
    ];
    expected.extend_from_slice(&area);
    assert_eq!(bytes, expected);
}

#[test]
fn the_request_and_response_are_the_nsm_api_types() {
    let request = attestation_request(&[1, 2, 3], &[4, 5]);
    match ciborium::from_reader::<Request, _>(request.as_slice()).unwrap() {
        Request::Attestation {
            user_data,
            nonce,
            public_key,
        } => {
            assert!(user_data.is_none());
            assert_eq!(nonce.unwrap().into_vec(), vec![1, 2, 3]);
            assert_eq!(public_key.unwrap().into_vec(), vec![4, 5]);
        }
        other => panic!("{other:?}"),
    }

    let mut answer = Vec::new();
    ciborium::into_writer(
        &Response::Attestation {
            document: vec![0xD2, 0x84, 0x44],
        },
        &mut answer,
    )
    .unwrap();
    // The buffer's unused tail follows the item.
    answer.resize(512, 0);
    assert_eq!(attestation_document(&answer).unwrap(), vec![0xD2, 0x84, 0x44]);

    let mut refused = Vec::new();
    ciborium::into_writer(&Response::Error(ErrorCode::InvalidArgument), &mut refused).unwrap();
    let e = attestation_document(&refused).unwrap_err();
    assert!(e.to_string().contains("InvalidArgument"), "{e}");

    let mut other = Vec::new();
    ciborium::into_writer(&Response::LockPCRs, &mut other).unwrap();
    assert!(attestation_document(&other).is_err());
}

/// A real NitroTPM document (vaportpm's, from an EC2 instance) in the
/// NSM's response comes back byte for byte, and the verifier reads it as
/// a NitroTPM document.
#[test]
fn a_real_nitrotpm_document_comes_back_whole_from_the_response() {
    let real = std::fs::read(
        blindfold_testdata::shared_dir().join("aws-nitro/vaportpm-nitrotpm/nitrotpm-attestation-doc.cbor"),
    )
    .unwrap();
    let mut answer = Vec::new();
    ciborium::into_writer(
        &Response::Attestation {
            document: real.clone(),
        },
        &mut answer,
    )
    .unwrap();
    answer.resize(8192, 0);
    let document = attestation_document(&answer).unwrap();
    assert_eq!(document, real);
    let parsed = blindfold_nitro::AttestationDocument::parse(&document).unwrap();
    assert_eq!(parsed.kind, blindfold_nitro::DocumentKind::NitroTpm);
}

/// Between us and swtpm, a relay that changes one byte of the answer to
/// `TPM2_NV_Write`: the write happened, but the answer's HMAC no longer
/// authenticates, and the session says so.
#[test]
fn an_answer_changed_on_the_way_fails_its_hmac() {
    let (_dir, swtpm, ek, buffer) = platform_with_buffer(&[0; 64]);
    let port = swtpm.tcti().rsplit("port=").next().unwrap().to_string();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let relay = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut client, _) = listener.accept().unwrap();
        let mut tpm = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        let frame = |from: &mut std::net::TcpStream| -> Option<Vec<u8>> {
            let mut header = [0u8; 10];
            from.read_exact(&mut header).ok()?;
            let size = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
            let mut rest = vec![0u8; size - 10];
            from.read_exact(&mut rest).ok()?;
            Some([header.to_vec(), rest].concat())
        };
        while let Some(command) = frame(&mut client) {
            tpm.write_all(&command).unwrap();
            let mut answer = frame(&mut tpm).unwrap();
            if command[6..10] == CC_NV_WRITE.to_be_bytes() {
                *answer.last_mut().unwrap() ^= 1;
            }
            client.write_all(&answer).unwrap();
        }
    });
    let mut raw = salted(&format!("swtpm:host=127.0.0.1,port={relay}"), &ek);
    let e = on_buffer(
        &mut raw,
        &buffer,
        CC_NV_WRITE,
        &nv_write_params(b"x"),
        &buffer.auth,
        ResponseCheck::Hmac,
    )
    .unwrap_err();
    assert!(matches!(e, Error::ResponseHmac { command: CC_NV_WRITE }), "{e}");
}
