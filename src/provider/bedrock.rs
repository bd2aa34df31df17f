//! Bedrock Runtime through the real AWS SDK: SigV4, the credential chain, retries and the
//! SDK's own event-stream decoding. Each call returns a [`Capture`] recorded by
//! [`CaptureInterceptor`](super::capture_interceptor::CaptureInterceptor).
//!
//! Two ways to build a client:
//! - [`BedrockClient::live`]: `aws-config`'s full default chain (env, profile, SSO, web
//!   identity, ECS, instance metadata), with the region resolved first (never by probing
//!   instance metadata) and a bounded credential preflight, so a machine with no AWS set-up
//!   fails in well under two seconds with a message that says what to do.
//! - [`BedrockClient::hermetic`]: the service config builder only, with static fake
//!   credentials and an explicit endpoint: no environment, no profile files, no network probe.
//!   This is what `--offline` and the tests use against the emulator.

use super::Prompt;
use super::capture_interceptor::CaptureInterceptor;
use crate::core::capture::{Capture, Operation, RecordedRequest, TransportError};
use crate::core::redact;
use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_sdk_bedrockruntime::config::{Credentials, ProvideCredentials, Region};
use aws_sdk_bedrockruntime::error::SdkError;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    CachePointBlock, CachePointType, CacheTtl, ContentBlock, ConversationRole,
    InferenceConfiguration, Message, SystemContentBlock,
};
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_smithy_types::{Document, Number};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long the credential preflight may take before tokaudit gives up.
pub const CREDENTIAL_PREFLIGHT: Duration = Duration::from_millis(1500);

/// Errors setting up the live client. Each says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// No region anywhere.
    #[error("no AWS region: pass --region, set AWS_REGION, or set `region` in your AWS profile")]
    NoRegion,
    /// The credential chain found nothing (or hung).
    #[error(
        "no usable AWS credentials after {elapsed_ms} ms: {detail}. Configure credentials (aws configure / aws sso login / AWS_PROFILE / AWS_ACCESS_KEY_ID), or run with --offline to use the built-in emulator"
    )]
    NoCredentials {
        /// How long the preflight took.
        elapsed_ms: u128,
        /// What the chain said.
        detail: String,
    },
}

/// The chain's own account of a failure names every provider it tried, one after another
/// (about 600 characters); the names are kept, each provider's "not enabled" is not.
fn condense_chain(detail: &str) -> String {
    let Some((head, tried)) = detail.split_once(" Attempted: ") else {
        return detail.to_string();
    };
    let names: Vec<&str> = tried
        .split(NOT_ENABLED)
        .filter_map(|part| part.rsplit_once(": ").map(|(before, _)| before))
        .map(|before| {
            before
                .rsplit(' ')
                .next()
                .unwrap_or(before)
                .trim_end_matches(':')
        })
        .filter(|n| !n.is_empty())
        .collect();
    let head = head.trim_end_matches('.');
    let head = head
        .strip_prefix(NOT_ENABLED)
        .map_or(head, |h| h.trim_start_matches(": "));
    match names.is_empty() {
        true => head.to_string(),
        false => format!("{head} (tried {})", names.join(", ")),
    }
}

/// How aws-config says a provider of the chain had nothing to offer.
const NOT_ENABLED: &str = "the credential provider was not enabled";

/// Client settings from the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--region`.
    pub region: Option<String>,
    /// `--profile`.
    pub profile: Option<String>,
    /// `--endpoint-url`.
    pub endpoint_url: Option<String>,
    /// `--timeout`, per call (the whole stream included).
    pub timeout: Duration,
    /// SDK attempts per call (retries on throttling and transient errors).
    pub max_attempts: u32,
}

/// A Bedrock Runtime client that captures raw exchanges.
#[derive(Debug, Clone)]
pub struct BedrockClient {
    client: aws_sdk_bedrockruntime::Client,
    /// The resolved region.
    pub region: String,
    timeout: Duration,
}

fn common_config(settings: &Settings) -> (RetryConfig, TimeoutConfig) {
    (
        RetryConfig::standard().with_max_attempts(settings.max_attempts.max(1)),
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(settings.timeout)
            .build(),
    )
}

impl BedrockClient {
    /// A live client with the user's own AWS set-up.
    pub async fn live(settings: &Settings) -> Result<Self, ProviderError> {
        let started = Instant::now();
        // The region is resolved from the flag, the environment and the profile only: the
        // default chain would also probe instance metadata, which can hang for seconds.
        let mut profile_region = aws_config::profile::ProfileFileRegionProvider::builder();
        if let Some(p) = &settings.profile {
            profile_region = profile_region.profile_name(p);
        }
        let chain = RegionProviderChain::first_try(settings.region.clone().map(Region::new))
            .or_else(aws_config::environment::EnvironmentVariableRegionProvider::new())
            .or_else(profile_region.build());
        let region = chain.region().await.ok_or(ProviderError::NoRegion)?;
        let (retry, timeout) = common_config(settings);
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(region.clone())
            .retry_config(retry)
            .timeout_config(timeout);
        if let Some(p) = &settings.profile {
            loader = loader.profile_name(p);
        }
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let shared = loader.load().await;
        let provider =
            shared
                .credentials_provider()
                .ok_or_else(|| ProviderError::NoCredentials {
                    elapsed_ms: started.elapsed().as_millis(),
                    detail: "the default chain has no credential provider".into(),
                })?;
        match tokio::time::timeout(CREDENTIAL_PREFLIGHT, provider.provide_credentials()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err(ProviderError::NoCredentials {
                    elapsed_ms: started.elapsed().as_millis(),
                    detail: condense_chain(&error_chain(&e)),
                });
            }
            Err(_) => {
                return Err(ProviderError::NoCredentials {
                    elapsed_ms: started.elapsed().as_millis(),
                    detail: format!(
                        "the credential chain did not answer within {} ms (instance metadata unreachable?); set AWS_EC2_METADATA_DISABLED=true off EC2",
                        CREDENTIAL_PREFLIGHT.as_millis()
                    ),
                });
            }
        }
        Ok(BedrockClient {
            client: aws_sdk_bedrockruntime::Client::new(&shared),
            region: region.to_string(),
            timeout: settings.timeout,
        })
    }

    /// A hermetic client for a local endpoint: static fake credentials, explicit region,
    /// no environment or profile lookups, no network probes.
    pub fn hermetic(endpoint_url: &str, region: &str, settings: &Settings) -> Self {
        let (retry, timeout) = common_config(settings);
        let conf = aws_sdk_bedrockruntime::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .credentials_provider(Credentials::new(
                "TOKAUDITOFFLINE",
                "offline-not-a-secret",
                None,
                None,
                "tokaudit-offline",
            ))
            .endpoint_url(endpoint_url)
            .retry_config(retry)
            .timeout_config(timeout)
            .build();
        BedrockClient {
            client: aws_sdk_bedrockruntime::Client::from_conf(conf),
            region: region.to_string(),
            timeout: settings.timeout,
        }
    }

    /// Call one operation and return its raw capture. Never fails: failures are part of the
    /// capture (HTTP errors and exception frames in the response, the rest as a transport error).
    pub async fn call(&self, operation: Operation, prompt: &Prompt) -> Capture {
        let cap = CaptureInterceptor::default();
        let outcome = tokio::time::timeout(self.timeout, self.send(operation, prompt, &cap)).await;
        let transport_error = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some(TransportError {
                kind: "timeout".into(),
                message: format!(
                    "no complete response within {} s; raise --timeout",
                    self.timeout.as_secs_f32()
                ),
            }),
        };
        let rec = cap.recording.lock().unwrap_or_else(|e| e.into_inner());
        let response = rec.response();
        // An error the response itself explains (HTTP status, exception frame) needs no
        // second copy; keep only errors the bytes do not show.
        let explained = response.as_ref().is_some_and(|r| {
            !(200..300).contains(&r.status)
                || matches!(&r.body, crate::core::capture::ResponseBody::Frames(f)
                    if f.iter().any(|raw| crate::core::wire::eventstream::decode_frame(raw)
                        .is_ok_and(|d| d.message_type != "event")))
        });
        let mut capture = Capture {
            operation,
            attempts: rec.attempts,
            request: rec.request.clone().unwrap_or_else(|| RecordedRequest {
                method: "POST".into(),
                path: format!("/model/{}/{}", prompt.model, operation.path_suffix()),
                ..RecordedRequest::default()
            }),
            response,
            transport_error: if explained { None } else { transport_error },
        };
        redact::capture(&mut capture);
        capture
    }

    async fn send(
        &self,
        operation: Operation,
        prompt: &Prompt,
        cap: &CaptureInterceptor,
    ) -> Result<(), TransportError> {
        let body = || Blob::new(serde_json::to_vec(&prompt.invoke_body()).expect("json"));
        match operation {
            Operation::InvokeModel => {
                self.client
                    .invoke_model()
                    .model_id(&prompt.model)
                    .content_type("application/json")
                    .accept("application/json")
                    .body(body())
                    .customize()
                    .interceptor(cap.clone())
                    .send()
                    .await
                    .map_err(sdk_error)?;
            }
            Operation::InvokeModelWithResponseStream => {
                let mut out = self
                    .client
                    .invoke_model_with_response_stream()
                    .model_id(&prompt.model)
                    .content_type("application/json")
                    .accept("application/json")
                    .body(body())
                    .customize()
                    .interceptor(cap.clone())
                    .send()
                    .await
                    .map_err(sdk_error)?;
                while out.body.recv().await.map_err(sdk_error)?.is_some() {}
            }
            Operation::Converse => {
                let (messages, system, config) = converse_input(prompt)?;
                self.client
                    .converse()
                    .model_id(&prompt.model)
                    .set_messages(Some(messages))
                    .set_system(system)
                    .inference_config(config)
                    .set_additional_model_request_fields(thinking_fields(prompt))
                    .customize()
                    .interceptor(cap.clone())
                    .send()
                    .await
                    .map_err(sdk_error)?;
            }
            Operation::ConverseStream => {
                let (messages, system, config) = converse_input(prompt)?;
                let mut out = self
                    .client
                    .converse_stream()
                    .model_id(&prompt.model)
                    .set_messages(Some(messages))
                    .set_system(system)
                    .inference_config(config)
                    .set_additional_model_request_fields(thinking_fields(prompt))
                    .customize()
                    .interceptor(cap.clone())
                    .send()
                    .await
                    .map_err(sdk_error)?;
                while out.stream.recv().await.map_err(sdk_error)?.is_some() {}
            }
            other => {
                return Err(TransportError {
                    kind: "request".into(),
                    message: format!("{other} is not a Bedrock Runtime operation"),
                });
            }
        }
        Ok(())
    }
}

type ConverseInput = (
    Vec<Message>,
    Option<Vec<SystemContentBlock>>,
    InferenceConfiguration,
);

fn converse_input(prompt: &Prompt) -> Result<ConverseInput, TransportError> {
    let build = |e: aws_smithy_types::error::operation::BuildError| TransportError {
        kind: "request".into(),
        message: e.to_string(),
    };
    let message = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(prompt.prompt.clone()))
        .build()
        .map_err(build)?;
    let mut blocks = Vec::new();
    for (text, cache) in prompt.system_blocks() {
        blocks.push(SystemContentBlock::Text(text));
        if cache {
            let ttl = prompt
                .cache
                .and_then(|c| c.ttl)
                .map(|t| CacheTtl::from(t.name()));
            blocks.push(SystemContentBlock::CachePoint(
                CachePointBlock::builder()
                    .r#type(CachePointType::Default)
                    .set_ttl(ttl)
                    .build()
                    .map_err(build)?,
            ));
        }
    }
    let system = (!blocks.is_empty()).then_some(blocks);
    let config = InferenceConfiguration::builder()
        .max_tokens(i32::try_from(prompt.max_tokens).unwrap_or(i32::MAX))
        .set_temperature(prompt.temperature())
        .build();
    Ok((vec![message], system, config))
}

/// Converse passes Anthropic's `thinking` through `additionalModelRequestFields`.
fn thinking_fields(prompt: &Prompt) -> Option<Document> {
    let budget = prompt.thinking?;
    let thinking = HashMap::from([
        ("type".to_string(), Document::String("enabled".into())),
        (
            "budget_tokens".to_string(),
            Document::Number(Number::PosInt(u64::from(budget))),
        ),
    ]);
    Some(Document::Object(HashMap::from([(
        "thinking".to_string(),
        Document::Object(thinking),
    )])))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An error of the credential chain or the SDK, on one line, with the chain condensed.
#[cfg(feature = "reconcile")]
pub(crate) fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    condense_chain(&error_chain(e))
}

/// An error and its sources, `Display` only, on one line (the SDK's `DisplayErrorContext`
/// appends a `Debug` dump that buries the useful part).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    one_line(&parts.join(": "))
}

fn sdk_error<E, R>(e: SdkError<E, R>) -> TransportError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let kind = match &e {
        SdkError::ConstructionFailure(_) => "construction",
        SdkError::TimeoutError(_) => "timeout",
        SdkError::DispatchFailure(d) if d.is_timeout() => "timeout",
        SdkError::DispatchFailure(_) => "dispatch",
        SdkError::ResponseError(_) => "response",
        SdkError::ServiceError(_) => "service",
        _ => "sdk",
    };
    TransportError {
        kind: kind.into(),
        message: error_chain(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What aws-config 1.x says with no credentials anywhere (IMDS disabled), verbatim.
    const CHAIN: &str = "the credential provider was not enabled: no credentials found in chain. Attempted: Environment: the credential provider was not enabled: environment variable not set Profile: the credential provider was not enabled WebIdentityToken: the credential provider was not enabled: $AWS_WEB_IDENTITY_TOKEN_FILE was not set EcsContainer: the credential provider was not enabled: ECS provider not configured Ec2InstanceMetadata: the credential provider was not enabled: IMDS disabled by AWS_EC2_METADATA_DISABLED env var set to `true`.";

    #[test]
    fn the_chain_failure_names_the_providers_it_tried() {
        assert_eq!(
            condense_chain(CHAIN),
            "no credentials found in chain (tried Environment, Profile, WebIdentityToken, EcsContainer, Ec2InstanceMetadata)"
        );
        assert_eq!(condense_chain("timed out"), "timed out");
    }
}
