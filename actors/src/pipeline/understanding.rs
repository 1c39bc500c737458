//! Understanding (seed 002, agent 2, and seed 000's intent and urgency) by rules: the
//! language, what the customer wants (built-in intents in English, Spanish, German,
//! Portuguese and French, plus the tenant's own rules, which win), the entities with
//! a shape, whether it is a question, and how urgent it sounds.

use super::language::{self, Language};
use super::patterns;
use super::words::Words;
use crate::domain::text_enum::text_enum;
use regex::Regex;
use serde::{Deserialize, Serialize};

/// The built-in intents, strongest first: the first that matches is the message's
/// intent, the others still count as signals for the lead score.
pub const HUMAN_REQUEST: &str = "human_request";
pub const COMPLAINT: &str = "complaint";
pub const NOT_INTERESTED: &str = "not_interested";
pub const PRICING: &str = "pricing";
pub const DEMO: &str = "demo";
pub const AVAILABILITY: &str = "availability";
pub const FEATURES: &str = "features";
pub const PRODUCT_INQUIRY: &str = "product_inquiry";
pub const SUPPORT: &str = "support";
pub const SUBSCRIBE: &str = "subscribe";
pub const GREETING: &str = "greeting";
/// A question that matched nothing above.
pub const QUESTION: &str = "question";
pub const OTHER: &str = "other";

struct BuiltIn {
    intent: &'static str,
    phrases: &'static [&'static str],
}

const BUILT_IN: &[BuiltIn] = &[
    BuiltIn {
        intent: HUMAN_REQUEST,
        phrases: &[
            "talk to a human",
            "speak to a human",
            "talk to a person",
            "speak to a person",
            "real person",
            "human agent",
            "talk to an agent",
            "speak to an agent",
            "speak with someone",
            "talk to someone",
            "customer service representative",
            "hablar con una persona",
            "hablar con un humano",
            "agente humano",
            "persona real",
            "hablar con alguien",
            "mit einem menschen",
            "echten menschen",
            "mit einem mitarbeiter",
            "falar com um atendente",
            "falar com uma pessoa",
            "pessoa real",
            "atendente humano",
            "parler a un humain",
            "parler a quelqu un",
            "un conseiller",
            "une vraie personne",
        ],
    },
    BuiltIn {
        intent: COMPLAINT,
        phrases: &[
            "complaint",
            "complain",
            "refund",
            "money back",
            "broken",
            "damaged",
            "never arrived",
            "wrong item",
            "scam",
            "unacceptable",
            "terrible service",
            "reclamacion",
            "queja",
            "reembolso",
            "devolucion",
            "roto",
            "no ha llegado",
            "nunca llego",
            "estafa",
            "beschwerde",
            "reklamation",
            "ruckerstattung",
            "geld zuruck",
            "kaputt",
            "defekt",
            "nicht angekommen",
            "betrug",
            "reclamacao",
            "reembolso",
            "quebrado",
            "nao chegou",
            "golpe",
            "plainte",
            "remboursement",
            "casse",
            "jamais arrive",
            "pas arrive",
            "arnaque",
        ],
    },
    BuiltIn {
        intent: NOT_INTERESTED,
        phrases: &[
            "not interested",
            "no thanks",
            "no thank you",
            "stop messaging",
            "stop texting",
            "unsubscribe",
            "leave me alone",
            "remove me",
            "no me interesa",
            "no gracias",
            "dejen de escribir",
            "kein interesse",
            "nein danke",
            "nicht interessiert",
            "nao tenho interesse",
            "nao obrigado",
            "nao obrigada",
            "pas interesse",
            "pas interessee",
            "non merci",
        ],
    },
    BuiltIn {
        intent: PRICING,
        phrases: &[
            "price",
            "prices",
            "pricing",
            "cost",
            "costs",
            "how much",
            "buy",
            "purchase",
            "purchasing",
            "place an order",
            "want to order",
            "like to order",
            "quote",
            "pay",
            "payment",
            "discount",
            "precio",
            "precios",
            "cuanto cuesta",
            "cuanto vale",
            "cuanto sale",
            "comprar",
            "compra",
            "cotizacion",
            "pagar",
            "descuento",
            "preis",
            "preise",
            "kosten",
            "kostet",
            "kaufen",
            "bestellen",
            "angebot",
            "rabatt",
            "preco",
            "precos",
            "quanto custa",
            "quanto e",
            "orcamento",
            "desconto",
            "prix",
            "combien",
            "acheter",
            "commander",
            "devis",
            "tarif",
            "tarifs",
            "remise",
        ],
    },
    BuiltIn {
        intent: DEMO,
        phrases: &[
            "demo",
            "trial",
            "free trial",
            "test drive",
            "try it",
            "sample",
            "demostracion",
            "prueba gratis",
            "prueba gratuita",
            "probarlo",
            "testversion",
            "probeabo",
            "testen",
            "demonstracao",
            "teste gratis",
            "teste gratuito",
            "experimentar",
            "essai gratuit",
            "essai",
            "essayer",
            "demonstration",
        ],
    },
    BuiltIn {
        intent: AVAILABILITY,
        phrases: &[
            "in stock",
            "available",
            "availability",
            "do you have",
            "do you still have",
            "back in stock",
            "disponible",
            "disponibilidad",
            "hay stock",
            "tienen",
            "tienes",
            "verfugbar",
            "lieferbar",
            "auf lager",
            "habt ihr",
            "haben sie",
            "disponivel",
            "em estoque",
            "voces tem",
            "tem estoque",
            "en stock",
            "avez vous",
            "vous avez",
        ],
    },
    BuiltIn {
        intent: FEATURES,
        phrases: &[
            "feature*",
            "does it",
            "can it",
            "specification*",
            "specs",
            "include",
            "includes",
            "compatible",
            "integrat*",
            "caracteristicas",
            "funciona con",
            "incluye",
            "funktion*",
            "eigenschaften",
            "enthalt",
            "kompatibel",
            "recursos",
            "funcionalidades",
            "inclui",
            "fonctionnalit*",
            "caracteristiques",
            "inclut",
            "compatible avec",
        ],
    },
    BuiltIn {
        intent: PRODUCT_INQUIRY,
        phrases: &[
            "product",
            "products",
            "more information",
            "more info",
            "tell me about",
            "interested in",
            "catalog",
            "catalogue",
            "information about",
            "informacion",
            "me interesa",
            "producto",
            "productos",
            "catalogo",
            "informationen",
            "interessiere mich",
            "produkt",
            "produkte",
            "katalog",
            "informacoes",
            "tenho interesse",
            "produto",
            "produtos",
            "information",
            "interesse par",
            "produit",
            "produits",
        ],
    },
    BuiltIn {
        intent: SUPPORT,
        phrases: &[
            "help",
            "problem",
            "issue",
            "not working",
            "error",
            "support",
            "where is my order",
            "track*",
            "ayuda",
            "problema",
            "no funciona",
            "donde esta mi pedido",
            "hilfe",
            "problem",
            "funktioniert nicht",
            "wo ist meine bestellung",
            "ajuda",
            "nao funciona",
            "cade meu pedido",
            "aide",
            "probleme",
            "ne marche pas",
            "ne fonctionne pas",
        ],
    },
    BuiltIn {
        intent: SUBSCRIBE,
        phrases: &[
            "subscribe",
            "subscribed",
            "sign me up",
            "newsletter",
            "followed you",
            "following you",
            "suscribir*",
            "suscrib*",
            "abonnier*",
            "inscrever",
            "assinar",
            "abonner",
            "inscrire",
        ],
    },
    BuiltIn {
        intent: GREETING,
        phrases: &[
            "hi",
            "hello",
            "hey",
            "good morning",
            "good afternoon",
            "good evening",
            "hola",
            "buenos dias",
            "buenas tardes",
            "buenas noches",
            "hallo",
            "guten tag",
            "guten morgen",
            "guten abend",
            "servus",
            "moin",
            "ola",
            "oi",
            "bom dia",
            "boa tarde",
            "boa noite",
            "bonjour",
            "salut",
            "bonsoir",
        ],
    },
];

/// Words that make a message urgent in any of the five languages.
const URGENT: &[&str] = &[
    "urgent",
    "urgently",
    "asap",
    "as soon as possible",
    "today",
    "right now",
    "immediately",
    "need",
    "emergency",
    "urgente",
    "hoy",
    "necesito",
    "cuanto antes",
    "inmediatamente",
    "dringend",
    "heute",
    "sofort",
    "brauche",
    "schnellstmoglich",
    "hoje",
    "preciso",
    "agora",
    "aujourd hui",
    "besoin",
    "immediatement",
    "tout de suite",
];

text_enum!(
    /// How soon the customer needs an answer.
    Urgency, "an urgency" {
        Low => "low",
        Medium => "medium",
        High => "high",
        Critical => "critical",
    }
);

/// A tenant's own intent: phrases (matched like the built-in ones) and regular
/// expressions (checked when the tenant saves them, case-insensitive).
#[derive(Debug, Clone)]
pub struct IntentRule {
    pub intent: String,
    pub phrases: Vec<String>,
    pub patterns: Vec<Regex>,
}

/// What matched, and the words that made it match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub intent: String,
    pub evidence: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    pub kind: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Understanding {
    pub language: Option<Language>,
    pub intent: String,
    /// 0 to 1: how sure the rules are of `intent`.
    pub confidence: f64,
    /// Every intent that matched, strongest first (the first is `intent`).
    pub signals: Vec<Signal>,
    pub entities: Vec<Entity>,
    pub is_question: bool,
    pub urgency: Urgency,
    /// The urgent words found, if any.
    pub urgent_words: Option<String>,
    /// `provider/model` when a model's answer gave the intent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

impl Understanding {
    pub fn has(&self, intent: &str) -> bool {
        self.signals.iter().any(|s| s.intent == intent)
    }
}

pub fn understand(text: &str, tenant_rules: &[IntentRule]) -> Understanding {
    let words = Words::of(text);
    let mut signals = Vec::new();
    for rule in tenant_rules {
        let phrase = rule.phrases.iter().find(|p| words.contains(p)).cloned();
        let evidence = phrase.or_else(|| {
            rule.patterns
                .iter()
                .find_map(|p| p.find(text).map(|m| m.as_str().to_owned()))
        });
        if let Some(evidence) = evidence {
            signals.push(Signal {
                intent: rule.intent.clone(),
                evidence,
            });
        }
    }
    for built_in in BUILT_IN {
        if let Some(evidence) = words.first_of(built_in.phrases) {
            signals.push(Signal {
                intent: built_in.intent.into(),
                evidence: evidence.into(),
            });
        }
    }
    // "No me interesa" says "me interesa" too: a refusal is not an inquiry.
    if signals.iter().any(|s| s.intent == NOT_INTERESTED) {
        signals.retain(|s| s.intent != PRODUCT_INQUIRY);
    }
    let is_question = text.contains('?') || text.contains('¿');
    let (intent, confidence) = match signals.as_slice() {
        [] if is_question => (QUESTION.to_owned(), 0.5),
        [] => (OTHER.to_owned(), 0.3),
        [only] => (only.intent.clone(), 0.9),
        [first, ..] => (first.intent.clone(), 0.75),
    };
    let urgent_words = words.first_of(URGENT).map(str::to_owned);
    let urgency = if urgent_words.is_some() {
        Urgency::High
    } else if signals
        .iter()
        .any(|s| [COMPLAINT, HUMAN_REQUEST, SUPPORT].contains(&s.intent.as_str()))
    {
        Urgency::Medium
    } else {
        Urgency::Low
    };
    Understanding {
        language: language::detect(text),
        intent,
        confidence,
        signals,
        entities: entities(text),
        is_question,
        urgency,
        urgent_words,
        model: None,
    }
}

/// Every intent the rules can give without a tenant's own.
pub fn built_in_intents() -> impl Iterator<Item = &'static str> {
    BUILT_IN.iter().map(|b| b.intent).chain([QUESTION, OTHER])
}

fn entities(text: &str) -> Vec<Entity> {
    let kinds: [(&str, Vec<String>); 4] = [
        ("email", patterns::emails(text)),
        ("phone", patterns::phones(text)),
        ("url", patterns::urls(text)),
        ("money", patterns::amounts(text)),
    ];
    kinds
        .into_iter()
        .flat_map(|(kind, values)| {
            values.into_iter().map(move |value| Entity {
                kind: kind.into(),
                value,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intents(u: &Understanding) -> Vec<&str> {
        u.signals.iter().map(|s| s.intent.as_str()).collect()
    }

    #[test]
    fn the_strongest_intent_leads_and_the_others_stay_as_signals() {
        let u = understand(
            "Hi! How much is the Pro plan, and is it available today?",
            &[],
        );
        assert_eq!(u.intent, PRICING);
        assert_eq!(u.confidence, 0.75);
        assert_eq!(intents(&u), [PRICING, AVAILABILITY, GREETING]);
        assert_eq!(u.urgency, Urgency::High);
        assert_eq!(u.urgent_words.as_deref(), Some("today"));
        assert!(u.is_question);
        assert_eq!(u.language.as_ref().unwrap().code, "en");
    }

    #[test]
    fn intents_are_found_in_spanish_german_portuguese_and_french() {
        for (text, intent) in [
            ("¿Cuánto cuesta el envío a Madrid?", PRICING),
            ("Quiero hablar con una persona, por favor", HUMAN_REQUEST),
            ("No me interesa, gracias", NOT_INTERESTED),
            ("Ist die Jacke in Größe M lieferbar?", AVAILABILITY),
            ("Die Lieferung ist kaputt angekommen", COMPLAINT),
            (
                "Vocês têm demonstração gratuita? Quero uma demonstração",
                DEMO,
            ),
            (
                "Bonjour, quelles sont les fonctionnalités incluses ?",
                FEATURES,
            ),
        ] {
            assert_eq!(understand(text, &[]).intent, intent, "{text}");
        }
    }

    #[test]
    fn asking_after_an_order_is_support_not_a_purchase() {
        assert_eq!(
            understand("Where is my order? It's been a week", &[]).intent,
            SUPPORT
        );
        assert_eq!(
            understand("I'd like to order two of them", &[]).intent,
            PRICING
        );
    }

    #[test]
    fn a_refusal_is_not_read_as_interest() {
        let u = understand("No me interesa", &[]);
        assert_eq!(intents(&u), [NOT_INTERESTED]);
    }

    #[test]
    fn nothing_matched_is_a_question_or_other_with_low_confidence() {
        let q = understand("Is the parking lot behind the building?", &[]);
        assert_eq!((q.intent.as_str(), q.confidence), (QUESTION, 0.5));
        let o = understand("The weather is nice", &[]);
        assert_eq!(
            (o.intent.as_str(), o.confidence, o.urgency),
            (OTHER, 0.3, Urgency::Low)
        );
    }

    #[test]
    fn a_tenants_own_rules_win_over_the_built_in_ones() {
        let rules = [IntentRule {
            intent: "booking".into(),
            phrases: vec!["book a table".into(), "reserva".into()],
            patterns: vec![Regex::new(r"(?i)\btable for \d+\b").unwrap()],
        }];
        let u = understand(
            "Hello, a table for 4 tonight? How much is the menu?",
            &rules,
        );
        assert_eq!(intents(&u), ["booking", PRICING, GREETING]);
        assert_eq!(u.signals[0].evidence, "table for 4");
        assert_eq!(
            understand("Quiero hacer una reserva", &rules).intent,
            "booking"
        );
    }

    #[test]
    fn entities_with_a_shape_are_listed() {
        let u = understand(
            "Mail me at ana@example.com or call +49 151 12345678, budget €500",
            &[],
        );
        assert_eq!(
            u.entities,
            [
                Entity {
                    kind: "email".into(),
                    value: "ana@example.com".into()
                },
                Entity {
                    kind: "phone".into(),
                    value: "+49 151 12345678".into()
                },
                Entity {
                    kind: "money".into(),
                    value: "€500".into()
                },
            ]
        );
    }
}
