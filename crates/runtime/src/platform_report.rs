//! The report that roots the AK on the platforms that have one, collected
//! once at start: an Azure confidential VM's HCL report (from the vTPM's
//! NV) and what verifies it, fetched at run time from the instance
//! metadata service (IMDS, 169.254.169.254:80, the one destination the
//! firewall adds for these platforms): the VCEK for SEV-SNP (`THIM`), the
//! TD quote of the TD report inside the HCL report for TDX (`/acc/tdquote`).
//! Nothing fetched is trusted here: the verifier checks the VCEK's chain to
//! AMD's root and the quote's to Intel's. A NitroTPM document is asked for
//! per piece of evidence instead (its nonce is the quote's qualifying data).

use std::net::SocketAddrV4;
use std::time::Duration;

use anyhow::{anyhow, Context};
use base64::Engine as _;
use blindfold_attester::{AzureHardware, PlatformLayout, ReportSource, Tpm};
use blindfold_protocol::PlatformReportV1;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// Azure's instance metadata service.
pub const IMDS: SocketAddrV4 = SocketAddrV4::new(std::net::Ipv4Addr::new(169, 254, 169, 254), 80);
/// The HCL report's header; the hardware report follows it.
const HCL_HEADER_LEN: usize = 32;
/// A TDREPORT's length.
const TD_REPORT_LEN: usize = 1024;
/// Bound on one metadata request.
const IMDS_TIMEOUT: Duration = Duration::from_secs(20);

/// True when `layout`'s platform needs the metadata service at start.
pub fn needs_imds(layout: &PlatformLayout) -> bool {
    matches!(layout.report, ReportSource::AzureHcl { .. })
}

/// Reads the HCL report (if the layout has one) and fetches what verifies
/// it from the metadata service at `imds`.
pub async fn collect(
    tpm: &mut Tpm,
    layout: &PlatformLayout,
    imds: SocketAddrV4,
) -> anyhow::Result<Option<PlatformReportV1>> {
    let ReportSource::AzureHcl { index, hardware } = layout.report else {
        return Ok(None);
    };
    let hcl_report = tpm
        .hcl_report(index)
        .context("reading the HCL report from the vTPM")?;
    Ok(Some(match hardware {
        AzureHardware::Snp => {
            let body = imds_request(imds, "GET", "/metadata/THIM/amd/certification", None).await?;
            PlatformReportV1::AzureSnp {
                hcl_report,
                vcek: vcek_from_thim(&body)?,
            }
        }
        AzureHardware::Tdx => {
            let report = td_report(&hcl_report)?;
            let body = serde_json::to_vec(&serde_json::json!({
                "report": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(report)
            }))?;
            let answer = imds_request(imds, "POST", "/acc/tdquote", Some(body)).await?;
            PlatformReportV1::AzureTdx {
                hcl_report,
                td_quote: td_quote_from_imds(&answer)?,
            }
        }
    }))
}

/// The TD report inside a TDX VM's HCL report (after its 32-byte header).
pub fn td_report(hcl_report: &[u8]) -> anyhow::Result<&[u8]> {
    hcl_report
        .get(HCL_HEADER_LEN..HCL_HEADER_LEN + TD_REPORT_LEN)
        .ok_or_else(|| anyhow!("the HCL report is too short to hold a TD report"))
}

/// The VCEK (DER) in THIM's answer: `{"vcekCert": PEM, "certificateChain": PEM, ...}`.
pub fn vcek_from_thim(body: &[u8]) -> anyhow::Result<Vec<u8>> {
    #[derive(serde::Deserialize)]
    struct Thim {
        #[serde(rename = "vcekCert")]
        vcek_cert: String,
    }
    let thim: Thim = serde_json::from_slice(body).context("the metadata service's VCEK answer")?;
    let (label, der) = pem_rfc7468::decode_vec(thim.vcek_cert.trim().as_bytes())
        .map_err(|e| anyhow!("the metadata service's VCEK is not PEM: {e}"))?;
    if label != "CERTIFICATE" {
        return Err(anyhow!(
            "the metadata service's VCEK is a PEM {label}, not a CERTIFICATE"
        ));
    }
    Ok(der)
}

/// The TD quote in `/acc/tdquote`'s answer: `{"quote": base64url}`.
pub fn td_quote_from_imds(body: &[u8]) -> anyhow::Result<Vec<u8>> {
    #[derive(serde::Deserialize)]
    struct Answer {
        quote: String,
    }
    let answer: Answer = serde_json::from_slice(body).context("the metadata service's TD quote answer")?;
    let text = answer.quote.trim().trim_end_matches('=');
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .context("the metadata service's TD quote is not base64url")
}

async fn imds_request(
    imds: SocketAddrV4,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
) -> anyhow::Result<Vec<u8>> {
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(imds)
            .await
            .with_context(|| format!("connecting to the metadata service at {imds}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
        tokio::spawn(conn);
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, imds.ip().to_string())
            .header("Metadata", "true");
        if body.is_some() {
            request = request.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let response = sender
            .send_request(request.body(Full::new(Bytes::from(body.unwrap_or_default())))?)
            .await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            return Err(anyhow!(
                "the metadata service answered {status} to {method} {path}"
            ));
        }
        anyhow::Ok(bytes.to_vec())
    };
    tokio::time::timeout(IMDS_TIMEOUT, exchange)
        .await
        .map_err(|_| anyhow!("the metadata service did not answer {method} {path} within {IMDS_TIMEOUT:?}"))?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Every platform a configuration may name has an NV layout, and only
    /// Azure's confidential VMs reach the metadata service.
    #[test]
    fn every_configurable_platform_has_an_attester() {
        for platform in blindfold_enclave_config::PLATFORMS {
            let layout = PlatformLayout::for_platform(platform).unwrap();
            assert_eq!(
                needs_imds(&layout),
                platform.starts_with("azure-") && *platform != "azure-vtpm"
            );
        }
    }

    #[test]
    fn the_vcek_is_read_from_thims_pem() {
        let der = vec![0x30, 0x03, 0x02, 0x01, 0x01];
        let pem = pem_rfc7468::encode_string("CERTIFICATE", pem_rfc7468::LineEnding::LF, &der).unwrap();
        let body = serde_json::json!({"vcekCert": pem, "certificateChain": "", "tcbm": "x"});
        assert_eq!(vcek_from_thim(&serde_json::to_vec(&body).unwrap()).unwrap(), der);
        let key = pem_rfc7468::encode_string("PUBLIC KEY", pem_rfc7468::LineEnding::LF, &der).unwrap();
        let body = serde_json::json!({"vcekCert": key});
        let e = vcek_from_thim(&serde_json::to_vec(&body).unwrap()).unwrap_err();
        assert!(e.to_string().contains("not a CERTIFICATE"), "{e}");
    }

    #[test]
    fn the_td_quote_is_base64url_with_or_without_padding() {
        let quote = vec![0xfb, 0xff, 0x01, 0x02];
        for text in ["-_8BAg", "-_8BAg=="] {
            let body = serde_json::to_vec(&serde_json::json!({ "quote": text })).unwrap();
            assert_eq!(td_quote_from_imds(&body).unwrap(), quote);
        }
        assert!(td_quote_from_imds(b"{\"quote\": \"!!\"}").is_err());
    }

    /// On a real Azure TDX VM's evidence (trustee's sample): the TD report
    /// taken from the HCL report carries the report data the TD quote made
    /// from it carries (REPORTMACSTRUCT offset 128; the v4 quote's body at
    /// 48, report data at 520 in it).
    #[test]
    fn the_td_report_is_where_a_real_hcl_report_keeps_it() {
        let path =
            blindfold_testdata::shared_dir().join("azure-vtpm/trustee-az-tdx-vtpm-v0/evidence-v0.json");
        let sample: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let bytes = |key: &str| -> Vec<u8> {
            sample[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b.as_u64().unwrap() as u8)
                .collect()
        };
        let hcl = bytes("hcl_report");
        let quote = bytes("td_quote");
        let report = td_report(&hcl).unwrap();
        assert_eq!(report.len(), TD_REPORT_LEN);
        assert_eq!(&report[128..192], &quote[48 + 520..48 + 584]);
        assert_ne!(&report[128..192], &[0u8; 64][..]);
        assert!(td_report(&hcl[..500]).is_err());
    }

    /// A metadata service on loopback: the requests are the ones IMDS
    /// takes (method, path, `Metadata: true`, the TD report base64url).
    #[tokio::test]
    async fn requests_reach_the_metadata_service_as_it_expects() {
        use std::sync::{Arc, Mutex};
        /// Method, path, `Metadata` header, body.
        type Seen = (String, String, Option<String>, Vec<u8>);
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let record = seen.clone();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let record = record.clone();
            async move {
                let method = req.method().to_string();
                let path = req.uri().path().to_string();
                let metadata = req
                    .headers()
                    .get("Metadata")
                    .map(|v| v.to_str().unwrap().to_string());
                let body = axum::body::to_bytes(req.into_body(), 1 << 20)
                    .await
                    .unwrap()
                    .to_vec();
                record.lock().unwrap().push((method, path, metadata, body));
                axum::Json(serde_json::json!({"quote": "AQID"}))
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let std::net::SocketAddr::V4(addr) = listener.local_addr().unwrap() else {
            panic!("IPv4 loopback")
        };
        tokio::spawn(async move { axum::serve(listener, app).await });
        let answer = imds_request(
            addr,
            "POST",
            "/acc/tdquote",
            Some(b"{\"report\":\"AA\"}".to_vec()),
        )
        .await
        .unwrap();
        assert_eq!(td_quote_from_imds(&answer).unwrap(), vec![1, 2, 3]);
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0].0, "POST");
        assert_eq!(seen[0].1, "/acc/tdquote");
        assert_eq!(seen[0].2.as_deref(), Some("true"));
        assert_eq!(seen[0].3, b"{\"report\":\"AA\"}");
    }
}
