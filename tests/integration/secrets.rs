//! No committed fixture may hold a credential, signature, API key or bearer token.

use crate::util::*;
use serde_json::Value;

#[test]
fn committed_fixtures_hold_no_secrets() {
    let patterns = [
        "AKIA",
        "ASIA",
        "Credential=",
        "Signature=",
        "Bearer ",
        "sk-ant-",
        "x-api-key\": \"s",
        "aws_secret_access_key",
    ];
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        let raw = std::fs::read_to_string(&path).unwrap();
        // A credential attribute a gateway put in its spans is kept by name, its value
        // redacted on arrival (LiteLLM 1.77 exports `llm.bedrock.aws_secret_access_key`).
        let text = raw.replace("_secret_access_key\":\"<redacted>\"", "");
        for p in patterns {
            assert!(!text.contains(p), "{} contains {p:?}", path.display());
        }
        let fx: Value = serde_json::from_str(&raw).unwrap();
        for side in ["non_streaming", "streaming"] {
            let h = &fx[side]["request"]["headers"];
            for secret in ["authorization", "x-amz-security-token", "x-amz-date"] {
                if let Some(v) = h.get(secret) {
                    assert!(
                        v.as_str().unwrap().starts_with("<redacted>"),
                        "{}: {secret} = {v}",
                        path.display()
                    );
                }
            }
        }
    }
}
