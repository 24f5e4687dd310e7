//! Chat templates: the model's own Jinja template rendered with
//! `minijinja`, as Hugging Face `apply_chat_template` renders it.

use minijinja::{context, Environment, Error as JinjaError, ErrorKind};

use blindfold_engine::ChatMessage;
use blindfold_engine::EngineError;

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos: String,
    eos: String,
}

fn raise_exception(message: String) -> Result<String, JinjaError> {
    Err(JinjaError::new(ErrorKind::InvalidOperation, message))
}

impl ChatTemplate {
    /// Compiles `source`; `bos`/`eos` are the tokens' texts.
    pub fn new(source: &str, bos: &str, eos: &str) -> Result<Self, EngineError> {
        let mut env = Environment::new();
        env.add_function("raise_exception", raise_exception);
        env.add_template_owned("chat", source.to_string())
            .map_err(|e| EngineError::ChatTemplate(format!("does not compile: {}", e.kind())))?;
        Ok(ChatTemplate {
            env,
            bos: bos.to_string(),
            eos: eos.to_string(),
        })
    }

    /// The prompt text for `messages`, ending with the assistant's turn.
    pub fn render(&self, messages: &[ChatMessage]) -> Result<String, EngineError> {
        let template = self
            .env
            .get_template("chat")
            .map_err(|e| EngineError::ChatTemplate(e.kind().to_string()))?;
        template
            .render(context! {
                messages => messages,
                add_generation_prompt => true,
                bos_token => self.bos,
                eos_token => self.eos,
            })
            // The error's detail could quote message content: keep the kind.
            .map_err(|e| EngineError::ChatTemplate(format!("rendering failed: {}", e.kind())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::CHATML_TEMPLATE;
    use blindfold_engine::Role;

    #[test]
    fn chatml_renders_turns_and_the_generation_prompt() {
        let t = ChatTemplate::new(CHATML_TEMPLATE, "", "").unwrap();
        let text = t
            .render(&[
                ChatMessage {
                    role: Role::System,
                    content: "S".into(),
                },
                ChatMessage {
                    role: Role::User,
                    content: "U".into(),
                },
            ])
            .unwrap();
        assert_eq!(
            text,
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn raise_exception_becomes_an_error_without_content() {
        let t = ChatTemplate::new("{{ raise_exception('secret-canary') }}", "", "").unwrap();
        let err = t.render(&[]).unwrap_err();
        assert!(matches!(err, EngineError::ChatTemplate(_)));
        assert!(!err.to_string().contains("secret-canary"), "{err}");
    }
}
