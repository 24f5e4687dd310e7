//! `blindfold verify https://HOST:PORT` and `blindfold chat`.

use anyhow::anyhow;
use blindfold_client::openai::{ChatMessage, ChatRequest, StreamOptions};
use blindfold_client::{Client, ClientError, Report, Trust};
use blindfold_protocol::api_error::ApiErrorBody;

use crate::args::{ChatArgs, TrustArgs, VerifyArgs};
use crate::eventlog_cmd::pretty;
use crate::exit::{say, Failure};

/// A client error as a failure: refused trust or attestation → exit 1,
/// unusable input → exit 2.
pub fn failure(e: ClientError) -> Failure {
    match e {
        ClientError::Input(_) => Failure::Unusable(anyhow!(e)),
        _ => Failure::CheckFailed(anyhow!(e)),
    }
}

/// Reads the trust files (before any network).
pub fn trust(args: &TrustArgs) -> Result<Trust, Failure> {
    let files = args.files().map_err(Failure::Unusable)?;
    Trust::from_files(&files).map_err(failure)
}

/// A tokio runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::Unusable(anyhow!(e)))
}

/// Prints a verification report as text (its `Display`).
pub fn print_report(report: &Report) {
    say!("{}", report.to_string().trim_end());
}

pub fn verify(args: &VerifyArgs) -> Result<(), Failure> {
    let report = match connect_and_report(args) {
        Ok(report) => report,
        Err(failure) => {
            // With --json a failure still prints the documented
            // `verified: false` object; the one-line error and the exit code
            // follow as for any failure.
            if args.json {
                let reason = match &failure {
                    Failure::CheckFailed(e) | Failure::Unusable(e) => crate::exit::one_line(e),
                };
                let address = blindfold_client::address_of(&args.url);
                say!(
                    "{}",
                    pretty(&blindfold_client::report::failure_report(&address, &reason))
                );
            }
            return Err(failure);
        }
    };
    if args.json {
        say!("{}", pretty(&report));
    } else {
        print_report(&report);
    }
    Ok(())
}

/// Reads the trust files, connects and verifies: the report of a session
/// that verified.
fn connect_and_report(args: &VerifyArgs) -> Result<Report, Failure> {
    let runtime = runtime()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(args.wait);
    loop {
        let trust = trust(&args.trust)?;
        match runtime.block_on(Client::connect(&args.url, trust)) {
            Ok(client) => return Ok(client.report()),
            // Nothing answers yet: an enclave still starting.
            Err(ClientError::Attestation(blindfold_atls::Error::Connect(_)))
                if std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(250));
            }
            Err(e) => return Err(failure(e).context(format!("verifying {}", args.url))),
        }
    }
}

/// The served model's id (`GET /v1/models` on the attested session).
pub async fn model_id(client: &Client) -> Result<String, ClientError> {
    client
        .model_list()
        .await?
        .data
        .into_iter()
        .next()
        .map(|m| m.id)
        .ok_or_else(|| ClientError::Http("the enclave serves no model".into()))
}

/// A streamed answer as it arrived.
pub struct StreamedAnswer {
    /// Its text.
    pub text: String,
    /// Completion tokens (from the usage chunk).
    pub tokens: u64,
    /// Seconds from the request to the end of the stream.
    pub seconds: f64,
    /// The enclave's signed receipt for it.
    pub receipt: Option<blindfold_protocol::receipt::IssuedReceiptV1>,
}

/// Streams one chat answer to stdout; returns it with its receipt.
pub async fn stream_answer(
    client: &Client,
    model: &str,
    messages: &[ChatMessage],
    max_tokens: u32,
    temperature: f32,
) -> Result<StreamedAnswer, ClientError> {
    let request = ChatRequest {
        model: model.to_string(),
        messages: messages.to_vec(),
        max_tokens: Some(max_tokens),
        temperature: Some(temperature),
        stream: true,
        stream_options: Some(StreamOptions { include_usage: true }),
    };
    let started = std::time::Instant::now();
    let mut stream = client.stream_chat(&request).await?;
    let mut text = String::new();
    let mut tokens = 0;
    while let Some(chunk) = stream.next_chunk().await {
        let chunk = chunk?;
        if let Some(error) = chunk.error {
            return Err(ClientError::Api {
                status: 200,
                body: serde_json::to_value(ApiErrorBody { error }).unwrap_or_default(),
            });
        }
        let piece = chunk.text();
        if !piece.is_empty() {
            use std::io::Write;
            print!("{piece}");
            let _ = std::io::stdout().flush();
            text.push_str(piece);
        }
        if let Some(usage) = chunk.usage {
            tokens = usage.completion_tokens;
        }
    }
    println!();
    Ok(StreamedAnswer {
        text,
        tokens,
        seconds: started.elapsed().as_secs_f64(),
        receipt: stream.receipt().cloned(),
    })
}

/// The one prompt of `-p` or `--prompt-file` (`-`: standard input), if given.
fn one_prompt(args: &ChatArgs) -> Result<Option<String>, Failure> {
    use std::io::Read;
    let bytes = match args.prompt_file.as_deref() {
        None => return Ok(args.prompt.clone()),
        Some(path) if path.as_os_str() == "-" => {
            let mut all = Vec::new();
            std::io::stdin().read_to_end(&mut all).map_err(|e| {
                Failure::Unusable(anyhow!(e).context("reading the prompt from standard input"))
            })?;
            all
        }
        // The error names the file, never its content.
        Some(path) => crate::inputs::read(path)?,
    };
    let prompt =
        String::from_utf8(bytes).map_err(|_| Failure::Unusable(anyhow!("the prompt is not UTF-8 text")))?;
    let prompt = prompt.trim_end_matches(['\n', '\r']).to_string();
    if prompt.trim().is_empty() {
        return Err(Failure::Unusable(anyhow!("the prompt is empty")));
    }
    Ok(Some(prompt))
}

pub fn chat(args: &ChatArgs) -> Result<(), Failure> {
    let trust = trust(&args.trust)?;
    let rt = runtime()?;
    rt.block_on(async {
        let client = Client::connect(&args.url, trust)
            .await
            .map_err(|e| failure(e).context(format!("verifying {}", args.url)))?;
        if let Report::Verified(report) = client.report() {
            eprintln!(
                "blindfold: verified {} ({}, trust basis {}, appraisal {})",
                client.address(),
                report.platform,
                report.trust_basis,
                report.appraisal.status
            );
        }
        let model = model_id(&client).await.map_err(failure)?;
        if let Some(prompt) = one_prompt(args)? {
            let messages = [ChatMessage::user(prompt)];
            stream_answer(&client, &model, &messages, args.max_tokens, args.temperature)
                .await
                .map_err(failure)?;
            return Ok(());
        }
        let mut history: Vec<ChatMessage> = Vec::new();
        let stdin = std::io::stdin();
        loop {
            eprint!("> ");
            let mut line = String::new();
            if stdin
                .read_line(&mut line)
                .map_err(|e| Failure::Unusable(anyhow!(e)))?
                == 0
                || line.trim().is_empty()
            {
                return Ok(());
            }
            history.push(ChatMessage::user(line.trim_end()));
            let answer = stream_answer(&client, &model, &history, args.max_tokens, args.temperature)
                .await
                .map_err(failure)?;
            history.push(ChatMessage::assistant(answer.text));
        }
    })
}
