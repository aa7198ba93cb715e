//! Chat formatting: the Jinja template stored in the GGUF file (`tokenizer.chat_template`), rendered by
//! minijinja with the variables Hugging Face templates expect; Gemma 3 base files carry no template
//! and get Gemma's documented turn format.

use crate::error::{Error, Result};
use minijinja::{context, Environment, ErrorKind, Value};

fn render_error(e: minijinja::Error) -> Error {
    Error::InvalidArgument {
        name: "messages",
        reason: format!("the chat template failed: {e:#}"),
    }
}

/// Renders `template` for `messages_json` (a JSON array of {"role", "content", ...} objects) with
/// `add_generation_prompt`, the BOS/EOS token texts and optional `tools_json`.
pub fn render(
    template: &str,
    messages_json: &str,
    add_generation_prompt: bool,
    bos_token: &str,
    eos_token: &str,
    tools_json: Option<&str>,
) -> Result<String> {
    let parse = |name: &'static str, s: &str| -> Result<Value> {
        let v: serde_json::Value = serde_json::from_str(s).map_err(|e| Error::InvalidArgument {
            name,
            reason: format!("not valid JSON: {e}"),
        })?;
        Ok(Value::from_serialize(&v))
    };
    let messages = parse("messages", messages_json)?;
    let tools = match tools_json {
        Some(t) => parse("tools", t)?,
        None => Value::from(()),
    };
    let mut env = Environment::new();
    env.add_function(
        "raise_exception",
        |msg: String| -> std::result::Result<Value, minijinja::Error> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
        },
    );
    env.add_template("chat", template).map_err(render_error)?;
    let tmpl = env.get_template("chat").map_err(render_error)?;
    tmpl.render(context! {
        messages => messages,
        add_generation_prompt => add_generation_prompt,
        bos_token => bos_token,
        eos_token => eos_token,
        tools => tools,
    })
    .map_err(render_error)
}

/// Gemma's turn format, for files without a template: a system message is prepended to the first
/// user turn, assistant turns are "model" turns.
pub const GEMMA_TEMPLATE: &str = concat!(
    "{{ bos_token }}",
    "{%- set first_user = namespace(done=false) -%}",
    "{%- set system = namespace(text='') -%}",
    "{%- for m in messages -%}",
    "{%- if m.role == 'system' -%}{%- set system.text = m.content + '\\n\\n' -%}",
    "{%- else -%}",
    "{{ '<start_of_turn>' + ('model' if m.role == 'assistant' else m.role) + '\\n' }}",
    "{%- if m.role == 'user' and not first_user.done -%}{{ system.text }}",
    "{%- set first_user.done = true -%}{%- endif -%}",
    "{{ m.content + '<end_of_turn>\\n' }}",
    "{%- endif -%}",
    "{%- endfor -%}",
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}",
);

#[cfg(test)]
mod tests {
    use super::*;

    const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    #[test]
    fn renders_chatml_and_gemma() {
        let msgs =
            r#"[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]"#;
        let out = render(CHATML, msgs, true, "", "", None).unwrap();
        assert_eq!(
            out,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let g = render(GEMMA_TEMPLATE, msgs, true, "<bos>", "<eos>", None).unwrap();
        assert_eq!(
            g,
            "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n"
        );
    }

    #[test]
    fn template_errors_are_reported() {
        let bad = "{{ raise_exception('roles must alternate') }}";
        let e = render(bad, "[]", true, "", "", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("roles must alternate"), "{e}");
        assert!(render(CHATML, "not json", true, "", "", None).is_err());
        assert!(render("{% for %}", "[]", true, "", "", None).is_err());
    }
}
