//! A tenant's AI settings: its language-model providers, tried in order, and what the
//! pipeline uses them for. Stored as one document sealed with the server's key (the
//! tenant id bound in as associated data); keys never leave the server again: the
//! API shows whether a provider has one, and a save without a key keeps the saved one.

use crate::channels::credentials::{SealError, Sealer};
use serde::{Deserialize, Serialize};
use switchboard_actors::{InvalidValue, TenantId};

pub const MAX_PROVIDERS: usize = 5;
const MAX_NAME_CHARS: usize = 40;
const MAX_MODEL_CHARS: usize = 200;
const MAX_URL_CHARS: usize = 500;
const MAX_KEY_CHARS: usize = 1000;
pub const MIN_TIMEOUT_MS: u64 = 100;
pub const MAX_TIMEOUT_MS: u64 = 60_000;

/// How a provider is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// The OpenAI chat completions API, as OpenAI, Azure OpenAI, OpenRouter, Ollama,
    /// vLLM and LM Studio serve it.
    Openai,
    /// Anthropic's Messages API.
    Anthropic,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
        }
    }
}

#[derive(Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Unique within the tenant; names it in failures and keeps its key across saves.
    pub name: String,
    pub kind: ProviderKind,
    /// Up to the API's version, such as `https://api.openai.com/v1`.
    pub base_url: String,
    pub model: String,
    /// Sent as a bearer token (OpenAI) or `x-api-key` (Anthropic); empty for a
    /// server that wants none. Left out when
    /// saving: the key saved under the same name stays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// One call, connecting included; the next provider is tried after it.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

fn default_timeout_ms() -> u64 {
    10_000
}

/// The pipeline's use of the providers: understanding the messages its rules are
/// unsure of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct UnderstandingUse {
    pub enabled: bool,
    /// Messages the rules understood with less confidence than this (0 to 1) go to
    /// the model: 0.6 sends questions (0.5) and messages with no intent (0.3).
    pub below_confidence: f64,
}

impl Default for UnderstandingUse {
    fn default() -> Self {
        Self {
            enabled: true,
            below_confidence: 0.6,
        }
    }
}

/// A tenant's monthly token budget across its providers (input and output tokens,
/// as the providers counted them, by UTC month).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Budget {
    /// 0: no budget. Once spent, no model is asked until the month turns: replies fall
    /// back to the tenant's fallback, understanding to the rules.
    pub monthly_tokens: u64,
    /// The usage page warns from this share of the budget on.
    pub warn_percent: u8,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            monthly_tokens: 0,
            warn_percent: 80,
        }
    }
}

/// Embedding the knowledge base, for finding passages by meaning as well as by their
/// words: a provider of the list (an OpenAI-compatible one: Anthropic has no
/// embeddings endpoint) and the embedding model to ask there.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddingsUse {
    /// Empty: no embeddings, the full-text search alone.
    pub provider: String,
    /// Such as `text-embedding-3-small`, or `nomic-embed-text` on Ollama.
    pub model: String,
}

/// A budget larger than this is a typing error.
const MAX_BUDGET_TOKENS: u64 = 1_000_000_000_000;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AiSettings {
    pub providers: Vec<Provider>,
    pub understanding: UnderstandingUse,
    pub budget: Budget,
    pub embeddings: EmbeddingsUse,
}

impl AiSettings {
    /// Checks every field; `saved` lends its keys to providers saved without one.
    pub fn completed(mut self, saved: Option<&AiSettings>) -> Result<Self, InvalidValue> {
        if self.providers.len() > MAX_PROVIDERS {
            return Err(invalid(format!(
                "at most {MAX_PROVIDERS} providers, not {}",
                self.providers.len()
            )));
        }
        if self.budget.monthly_tokens > MAX_BUDGET_TOKENS
            || !(1..=100).contains(&self.budget.warn_percent)
        {
            return Err(invalid(format!(
                "budget.monthly_tokens must be 0 to {MAX_BUDGET_TOKENS} and budget.warn_percent 1 to 100"
            )));
        }
        if !(0.0..=1.0).contains(&self.understanding.below_confidence) {
            return Err(invalid(
                "understanding.below_confidence must be from 0 to 1".into(),
            ));
        }
        for at in 0..self.providers.len() {
            let p = &self.providers[at];
            let field = |name: &str| format!("providers[{at}].{name}");
            let name_ok = (1..=MAX_NAME_CHARS).contains(&p.name.len())
                && p.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !name_ok {
                return Err(invalid(format!(
                    "{} must be 1 to {MAX_NAME_CHARS} letters, digits, '-' or '_'",
                    field("name")
                )));
            }
            if self.providers[..at].iter().any(|q| q.name == p.name) {
                return Err(invalid(format!("two providers are named '{}'", p.name)));
            }
            check_base_url(&p.base_url)
                .map_err(|why| invalid(format!("{} {why}", field("base_url"))))?;
            if p.model.trim().is_empty() || p.model.chars().count() > MAX_MODEL_CHARS {
                return Err(invalid(format!(
                    "{} must be 1 to {MAX_MODEL_CHARS} characters",
                    field("model")
                )));
            }
            if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&p.timeout_ms) {
                return Err(invalid(format!(
                    "{} must be from {MIN_TIMEOUT_MS} to {MAX_TIMEOUT_MS}",
                    field("timeout_ms")
                )));
            }
            let key = match &p.api_key {
                Some(key) => key.clone(),
                None => saved
                    .and_then(|s| s.providers.iter().find(|q| q.name == p.name))
                    .and_then(|q| q.api_key.clone())
                    .ok_or_else(|| {
                        invalid(format!(
                            "{} is required: no key is saved for '{}' (use \"\" for none)",
                            field("api_key"),
                            p.name
                        ))
                    })?,
            };
            if key.chars().count() > MAX_KEY_CHARS || key.chars().any(char::is_control) {
                return Err(invalid(format!(
                    "{} must be at most {MAX_KEY_CHARS} characters, none of them control characters",
                    field("api_key")
                )));
            }
            self.providers[at].api_key = Some(key);
        }
        self.check_embeddings()?;
        Ok(self)
    }

    fn check_embeddings(&self) -> Result<(), InvalidValue> {
        let wanted = &self.embeddings;
        if wanted.provider.is_empty() {
            return if wanted.model.is_empty() {
                Ok(())
            } else {
                Err(invalid(
                    "embeddings.provider is required with embeddings.model".into(),
                ))
            };
        }
        match self.providers.iter().find(|p| p.name == wanted.provider) {
            None => Err(invalid(format!(
                "embeddings.provider names no provider: '{}'",
                wanted.provider
            ))),
            Some(p) if p.kind != ProviderKind::Openai => Err(invalid(format!(
                "embeddings.provider must be an OpenAI-compatible provider: '{}' speaks {}",
                p.name,
                p.kind.as_str()
            ))),
            Some(_)
                if wanted.model.trim().is_empty()
                    || wanted.model.chars().count() > MAX_MODEL_CHARS =>
            {
                Err(invalid(format!(
                    "embeddings.model must be 1 to {MAX_MODEL_CHARS} characters"
                )))
            }
            Some(_) => Ok(()),
        }
    }

    /// The provider and model the knowledge base is embedded with, if any; what the
    /// stored vectors are marked with.
    pub fn embedding_model(&self) -> Option<String> {
        let wanted = &self.embeddings;
        (!wanted.provider.is_empty()).then(|| format!("{}/{}", wanted.provider, wanted.model))
    }

    /// What the API shows: everything but the keys, and whether each has one.
    pub fn view(&self) -> serde_json::Value {
        let providers: Vec<serde_json::Value> = self
            .providers
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.name,
                    "kind": p.kind,
                    "base_url": p.base_url,
                    "model": p.model,
                    "timeout_ms": p.timeout_ms,
                    "has_api_key": p.api_key.as_deref().is_some_and(|k| !k.is_empty()),
                })
            })
            .collect();
        serde_json::json!({
            "providers": providers,
            "understanding": self.understanding,
            "budget": self.budget,
            "embeddings": self.embeddings,
        })
    }

    pub fn seal(&self, sealer: &Sealer, tenant: TenantId) -> Result<Vec<u8>, SealError> {
        // Serialising strings and numbers cannot fail.
        let plain = serde_json::to_vec(self).unwrap_or_default();
        sealer.seal_bytes(&context(tenant), &plain)
    }

    pub fn open(sealer: &Sealer, tenant: TenantId, sealed: &[u8]) -> Result<Self, SealError> {
        let plain = sealer.open_bytes(&context(tenant), sealed)?;
        serde_json::from_slice(&plain).map_err(|_| SealError::Unopenable)
    }
}

/// Bound into the seal: the settings open only as this tenant's.
fn context(tenant: TenantId) -> Vec<u8> {
    let mut context = b"ai-settings:".to_vec();
    context.extend_from_slice(tenant.0.as_bytes());
    context
}

fn check_base_url(raw: &str) -> Result<(), &'static str> {
    if raw.len() > MAX_URL_CHARS {
        return Err("is too long");
    }
    let url = reqwest::Url::parse(raw).map_err(|_| "is not a URL")?;
    if !["http", "https"].contains(&url.scheme()) || url.host_str().is_none() {
        return Err("must be an http or https URL with a host");
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        return Err("must not hold credentials or a query");
    }
    Ok(())
}

fn invalid(message: String) -> InvalidValue {
    InvalidValue(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(name: &str, key: Option<&str>) -> Provider {
        Provider {
            name: name.into(),
            kind: ProviderKind::Openai,
            base_url: "https://api.openai.com/v1".into(),
            model: "gpt-4o-mini".into(),
            api_key: key.map(String::from),
            timeout_ms: 10_000,
        }
    }

    fn with(providers: Vec<Provider>) -> AiSettings {
        AiSettings {
            providers,
            ..AiSettings::default()
        }
    }

    #[test]
    fn a_provider_saved_without_a_key_keeps_the_one_saved_under_its_name() {
        let saved = with(vec![provider("main", Some("sk-1"))])
            .completed(None)
            .unwrap();
        let again = with(vec![provider("main", None)])
            .completed(Some(&saved))
            .unwrap();
        assert_eq!(again.providers[0].api_key.as_deref(), Some("sk-1"));
        let err = with(vec![provider("other", None)])
            .completed(Some(&saved))
            .unwrap_err();
        assert!(
            err.0.contains("providers[0].api_key is required"),
            "{}",
            err.0
        );
    }

    #[test]
    fn each_limit_is_refused_naming_the_field() {
        let cases: Vec<(AiSettings, &str)> = vec![
            (
                with(vec![provider("a", Some("")); 6]),
                "at most 5 providers",
            ),
            (with(vec![provider("a b", Some(""))]), "providers[0].name"),
            (
                with(vec![provider("a", Some("")), provider("a", Some(""))]),
                "two providers are named 'a'",
            ),
            (
                with(vec![Provider {
                    base_url: "ftp://x/v1".into(),
                    ..provider("a", Some(""))
                }]),
                "providers[0].base_url must be an http or https URL",
            ),
            (
                with(vec![Provider {
                    base_url: "https://user:pw@x/v1".into(),
                    ..provider("a", Some(""))
                }]),
                "must not hold credentials",
            ),
            (
                with(vec![Provider {
                    model: " ".into(),
                    ..provider("a", Some(""))
                }]),
                "providers[0].model",
            ),
            (
                with(vec![Provider {
                    timeout_ms: 60_001,
                    ..provider("a", Some(""))
                }]),
                "providers[0].timeout_ms must be from 100 to 60000",
            ),
            (
                with(vec![provider("a", Some("sk\nx"))]),
                "providers[0].api_key",
            ),
            (
                AiSettings {
                    providers: Vec::new(),
                    understanding: UnderstandingUse {
                        enabled: true,
                        below_confidence: 1.5,
                    },
                    budget: Budget::default(),
                    embeddings: EmbeddingsUse::default(),
                },
                "below_confidence",
            ),
            (
                AiSettings {
                    embeddings: EmbeddingsUse {
                        provider: "other".into(),
                        model: "text-embedding-3-small".into(),
                    },
                    ..with(vec![provider("a", Some(""))])
                },
                "embeddings.provider names no provider: 'other'",
            ),
            (
                AiSettings {
                    embeddings: EmbeddingsUse {
                        provider: "a".into(),
                        model: "x".into(),
                    },
                    ..with(vec![Provider {
                        kind: ProviderKind::Anthropic,
                        ..provider("a", Some(""))
                    }])
                },
                "embeddings.provider must be an OpenAI-compatible provider",
            ),
            (
                AiSettings {
                    embeddings: EmbeddingsUse {
                        provider: "a".into(),
                        model: "".into(),
                    },
                    ..with(vec![provider("a", Some(""))])
                },
                "embeddings.model must be 1 to 200 characters",
            ),
        ];
        for (settings, says) in cases {
            let err = settings.completed(None).unwrap_err();
            assert!(err.0.contains(says), "{says}: {}", err.0);
        }
    }

    #[test]
    fn sealed_settings_open_only_as_their_own_tenants() {
        let sealer = Sealer::from_base64(&Sealer::generate_key().unwrap()).unwrap();
        let settings = with(vec![provider("main", Some("sk-secret"))]);
        let (tenant, other) = (
            TenantId(uuid::Uuid::now_v7()),
            TenantId(uuid::Uuid::now_v7()),
        );
        let sealed = settings.seal(&sealer, tenant).unwrap();
        assert!(!sealed.windows(9).any(|w| w == b"sk-secret"));
        assert_eq!(
            AiSettings::open(&sealer, tenant, &sealed).unwrap(),
            settings
        );
        assert!(AiSettings::open(&sealer, other, &sealed).is_err());
        assert!(!settings.view().to_string().contains("sk-secret"));
        assert_eq!(settings.view()["providers"][0]["has_api_key"], true);
    }
}
