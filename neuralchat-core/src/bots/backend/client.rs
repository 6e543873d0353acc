//! [`LlmClient`]: one backend's URL, protocol, HTTP client and timeout.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{HeaderValue, ACCEPT};

use super::error::{describe, BackendError};
use super::ollama::{self, OllamaDecoder};
use super::openai::{self, OpenAiDecoder};
use super::stream::decode;
use super::{BackendKind, CompletionRequest, TokenStream};

/// The most bytes of an HTTP error body read (only its start is kept).
const MAX_ERROR_READ_BYTES: usize = 4096;

/// A client for one LLM server. Cheap to clone (the HTTP connection pool
/// is shared).
///
/// `timeout` bounds each wait, not the whole reply (which may stream for
/// minutes): connecting, the response headers, and the gap between two
/// chunks of the body.
#[derive(Debug, Clone)]
pub struct LlmClient {
    kind: BackendKind,
    endpoint: reqwest::Url,
    http: reqwest::Client,
    timeout: Duration,
    api_key: Option<String>,
    /// `BackendKind::Local`: the model run in this process.
    #[cfg(feature = "local-llm")]
    local: Option<std::sync::Arc<super::local::LocalModel>>,
}

impl LlmClient {
    /// A client for the server at `url` (a base such as
    /// `http://127.0.0.1:8081`; for OpenAI-compatible servers one ending in
    /// `/v1` works too). Fails with [`BackendError::Config`] on a URL that
    /// is not http(s) or a zero timeout.
    pub fn new(kind: BackendKind, url: &str, timeout: Duration) -> Result<Self, BackendError> {
        // No idle connections kept: a reply ends by closing its connection
        // anyway, and a pooled connection the server has since closed would
        // fail the next question ("connection closed before message completed").
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .pool_max_idle_per_host(0)
            // Tokens arrive as small writes; say so rather than rely on the default.
            .tcp_nodelay(true)
            .build()
            .map_err(|e| BackendError::Config(describe(&e)))?;
        Self::with_http_client(kind, url, timeout, http)
    }

    /// Like [`LlmClient::new`], sharing an existing reqwest client (and its
    /// connection pool and settings; its own timeouts apply too).
    pub fn with_http_client(
        kind: BackendKind,
        url: &str,
        timeout: Duration,
        http: reqwest::Client,
    ) -> Result<Self, BackendError> {
        if timeout.is_zero() {
            return Err(BackendError::Config(
                "the timeout must not be zero".to_owned(),
            ));
        }
        let full = match kind {
            BackendKind::OpenAi => openai::endpoint(url),
            BackendKind::Ollama => ollama::endpoint(url),
            BackendKind::Local => return Err(local_has_no_url()),
        };
        let endpoint = reqwest::Url::parse(&full)
            .map_err(|e| BackendError::Config(format!("bad backend URL {url:?}: {e}")))?;
        if !matches!(endpoint.scheme(), "http" | "https") || !endpoint.has_host() {
            return Err(BackendError::Config(format!(
                "the backend URL must be http(s)://host...: {url:?}"
            )));
        }
        Ok(Self {
            kind,
            endpoint,
            http,
            timeout,
            api_key: None,
            #[cfg(feature = "local-llm")]
            local: None,
        })
    }

    /// A client for a bot's configuration: its backend, URL or model
    /// file, timeout and API key. For `backend = "local"` the file must
    /// exist (it is loaded by [`LlmClient::probe`] or the first reply).
    pub fn for_bot(config: &crate::bots::BotConfig) -> Result<Self, BackendError> {
        let timeout = Duration::from_secs(config.timeout_secs);
        let client = match config.backend {
            #[cfg(feature = "local-llm")]
            BackendKind::Local => Self::local(
                &super::local::LocalSettings {
                    model_path: config.model_path.clone().unwrap_or_default().into(),
                    threads: config.threads,
                    max_concurrent: config.max_concurrent,
                },
                timeout,
            )?,
            #[cfg(not(feature = "local-llm"))]
            BackendKind::Local => {
                return Err(BackendError::Config(
                    "backend \"local\" needs a server built with the local-llm feature".to_owned(),
                ))
            }
            kind => Self::new(kind, &config.url, timeout)?,
        };
        Ok(match &config.api_key {
            Some(key) => client.with_api_key(key.clone()),
            None => client,
        })
    }

    /// A client for a GGUF model run in this process ([`BackendKind::Local`]).
    /// Fails with [`BackendError::Config`] when the file does not exist or
    /// the timeout is zero; the model itself loads later (see
    /// [`LlmClient::probe`]). `timeout` bounds the wait for each piece.
    #[cfg(feature = "local-llm")]
    pub fn local(
        settings: &super::local::LocalSettings,
        timeout: Duration,
    ) -> Result<Self, BackendError> {
        if timeout.is_zero() {
            return Err(BackendError::Config(
                "the timeout must not be zero".to_owned(),
            ));
        }
        let model = super::local::LocalModel::new(settings)?;
        let endpoint = reqwest::Url::from_file_path(model.path()).map_err(|()| {
            BackendError::Config(format!("bad model path {}", model.path().display()))
        })?;
        Ok(Self {
            kind: BackendKind::Local,
            endpoint,
            http: reqwest::Client::new(),
            timeout,
            api_key: None,
            local: Some(std::sync::Arc::new(model)),
        })
    }

    /// The model run in this process, for [`BackendKind::Local`].
    #[cfg(feature = "local-llm")]
    pub fn local_model(&self) -> Option<&std::sync::Arc<super::local::LocalModel>> {
        self.local.as_ref()
    }

    /// Sends `Authorization: Bearer KEY` with every request (for servers
    /// started with an API key).
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The wire protocol.
    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    /// The full URL requests go to (e.g. `http://host/v1/chat/completions`).
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    /// The server's base URL (`http://host:port/`), where [`LlmClient::probe`] asks.
    pub fn base_url(&self) -> String {
        let mut base = self.endpoint.clone();
        base.set_path("/");
        base.set_query(None);
        base.to_string()
    }

    /// Whether something answers HTTP at the server's base URL (any status
    /// counts: llama.cpp, OpenAI-compatible servers and Ollama all answer
    /// there differently). Fails with `Connect` or `Timeout` otherwise.
    ///
    /// For [`BackendKind::Local`]: loads the model file (once); `Ok` when
    /// it is loaded.
    pub async fn probe(&self) -> Result<(), BackendError> {
        #[cfg(feature = "local-llm")]
        if let Some(local) = &self.local {
            return local.load().await;
        }
        let mut request = self.http.get(self.base_url());
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        tokio::time::timeout(self.timeout, request.send())
            .await
            .map_err(|_| BackendError::Timeout)?
            .map_err(send_error)?;
        Ok(())
    }

    /// The longest wait for the connection, the response, or the next chunk.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends `req` and returns the reply as it streams. Errors before the
    /// first byte of the reply (connection, HTTP status, timeout) come from
    /// here; later ones come from the stream. Dropping the stream aborts
    /// the request.
    pub async fn stream(&self, req: &CompletionRequest) -> Result<TokenStream, BackendError> {
        #[cfg(feature = "local-llm")]
        if let Some(local) = &self.local {
            return Ok(local.stream(req, self.timeout));
        }
        let builder = self.http.post(self.endpoint.clone());
        let builder = match self.kind {
            BackendKind::OpenAi => builder
                .json(&openai::Body::new(req))
                .header(ACCEPT, HeaderValue::from_static("text/event-stream")),
            BackendKind::Ollama => builder
                .json(&ollama::Body::new(req))
                .header(ACCEPT, HeaderValue::from_static("application/x-ndjson")),
            BackendKind::Local => return Err(local_has_no_url()),
        };
        let builder = match &self.api_key {
            Some(key) => builder.bearer_auth(key),
            None => builder,
        };
        let response = tokio::time::timeout(self.timeout, builder.send())
            .await
            .map_err(|_| BackendError::Timeout)?
            .map_err(send_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(BackendError::status(
                status.as_u16(),
                &self.error_body(response).await,
            ));
        }
        let body = Box::pin(response.bytes_stream());
        Ok(match self.kind {
            BackendKind::OpenAi => decode(body, OpenAiDecoder::default(), self.timeout),
            BackendKind::Ollama => decode(body, OllamaDecoder::default(), self.timeout),
            BackendKind::Local => return Err(local_has_no_url()),
        })
    }

    /// The start of an error response's body, as far as it arrives in time.
    async fn error_body(&self, response: reqwest::Response) -> String {
        let mut body = Vec::new();
        let mut chunks = Box::pin(response.bytes_stream());
        while body.len() < MAX_ERROR_READ_BYTES {
            match tokio::time::timeout(self.timeout, chunks.next()).await {
                Ok(Some(Ok(chunk))) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
        String::from_utf8_lossy(&body).into_owned()
    }
}

/// `BackendKind::Local` given where a URL is expected.
fn local_has_no_url() -> BackendError {
    BackendError::Config(
        "backend \"local\" runs a model file, not a URL: use LlmClient::for_bot or LlmClient::local"
            .to_owned(),
    )
}

/// A failure to send the request or get the response headers.
fn send_error(error: reqwest::Error) -> BackendError {
    if error.is_timeout() && !error.is_connect() {
        BackendError::Timeout
    } else {
        BackendError::Connect(describe(&error))
    }
}
