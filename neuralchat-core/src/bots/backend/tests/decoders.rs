//! The OpenAI (SSE) and Ollama (NDJSON) decoders, without HTTP: real-looking
//! streams split at every byte position, and broken ones.

use std::collections::VecDeque;

use super::super::ollama::OllamaDecoder;
use super::super::openai::OpenAiDecoder;
use super::super::stream::Decoder;
use super::super::{BackendError, Delta, Usage};
use super::fixtures::{
    llama_cpp_deltas, ollama_deltas, openai_deltas, LLAMA_CPP_SSE, OLLAMA_NDJSON, OPENAI_SSE,
};

/// Feeds `chunks` and ends the input; the deltas, or the first error.
fn run<D: Decoder>(mut decoder: D, chunks: &[&[u8]]) -> Result<Vec<Delta>, BackendError> {
    let mut out = VecDeque::new();
    for chunk in chunks {
        decoder.feed(chunk, &mut out)?;
    }
    decoder.finish(&mut out)?;
    Ok(out.into())
}

/// Checks that `text` decodes to `want` whole, split in two at every byte
/// position, and one byte at a time.
fn every_split<D: Decoder + Default>(text: &str, want: &[Delta]) {
    let bytes = text.as_bytes();
    assert_eq!(run(D::default(), &[bytes]).unwrap(), want);
    for at in 0..=bytes.len() {
        let (a, b) = bytes.split_at(at);
        assert_eq!(run(D::default(), &[a, b]).unwrap(), want, "split at {at}");
    }
    let singles: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(run(D::default(), &singles).unwrap(), want);
}

fn openai(text: &str) -> Result<Vec<Delta>, BackendError> {
    run(OpenAiDecoder::default(), &[text.as_bytes()])
}

fn ollama(text: &str) -> Result<Vec<Delta>, BackendError> {
    run(OllamaDecoder::default(), &[text.as_bytes()])
}

#[test]
fn llama_cpp_stream_split_anywhere() {
    every_split::<OpenAiDecoder>(LLAMA_CPP_SSE, &llama_cpp_deltas());
}

#[test]
fn openai_stream_with_a_usage_chunk_split_anywhere() {
    every_split::<OpenAiDecoder>(OPENAI_SSE, &openai_deltas());
}

#[test]
fn ollama_stream_split_anywhere() {
    every_split::<OllamaDecoder>(OLLAMA_NDJSON, &ollama_deltas());
}

#[test]
fn openai_without_usage_has_none() {
    let text = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]\n\n";
    assert_eq!(
        openai(text).unwrap(),
        [Delta::text("a"), Delta::finished(None)]
    );
}

#[test]
fn openai_ignores_whatever_follows_done() {
    let text = "data: [DONE]\n\ndata: {garbage\n\n";
    assert_eq!(openai(text).unwrap(), [Delta::finished(None)]);
}

#[test]
fn openai_finished_choice_without_done_is_complete() {
    let text = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}],\
                \"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}\n\n";
    let usage = Usage {
        prompt_tokens: 1,
        completion_tokens: 1,
    };
    assert_eq!(
        openai(text).unwrap(),
        [Delta::text("a"), Delta::finished(Some(usage))]
    );
}

#[test]
fn openai_early_end_is_malformed() {
    for text in [
        "",
        "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n",
        "<html><body>Bad gateway</body></html>",
        "{\"choices\":[]}",
    ] {
        assert!(
            matches!(openai(text), Err(BackendError::Malformed(_))),
            "{text:?}"
        );
    }
}

#[test]
fn openai_bad_json_is_malformed() {
    for text in [
        "data: {not json\n\n",
        "data: [1, 2]\n\n",
        "data: {\"choices\": 3}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":7}}]}\n\n",
    ] {
        assert!(
            matches!(openai(text), Err(BackendError::Malformed(_))),
            "{text:?}"
        );
    }
}

#[test]
fn openai_error_events_are_server_errors() {
    for (text, message) in [
        (
            "data: {\"error\":{\"code\":500,\"message\":\"boom\",\"type\":\"server_error\"}}\n\n",
            "boom",
        ),
        (
            "data: {\"error\":\"context too long\"}\n\n",
            "context too long",
        ),
        ("data: {\"error\":{\"code\":3}}\n\n", "{\"code\":3}"),
    ] {
        assert_eq!(
            openai(text),
            Err(BackendError::Server(message.into())),
            "{text:?}"
        );
    }
}

#[test]
fn ollama_final_line_may_carry_text_and_partial_counts() {
    let text = "{\"message\":{\"content\":\"a\"},\"done\":false}\n\
                {\"message\":{\"content\":\"b\"},\"done\":true,\"eval_count\":2}\n";
    let usage = Usage {
        prompt_tokens: 0,
        completion_tokens: 2,
    };
    assert_eq!(
        ollama(text).unwrap(),
        [
            Delta::text("a"),
            Delta::text("b"),
            Delta::finished(Some(usage))
        ]
    );
    assert_eq!(ollama("{\"done\":true}").unwrap(), [Delta::finished(None)]);
}

#[test]
fn ollama_tolerates_blank_lines_and_crlf_and_ignores_what_follows_done() {
    let text =
        "\r\n{\"message\":{\"content\":\"a\"},\"done\":false}\r\n\r\n{\"done\":true}\r\nnot json\n";
    assert_eq!(
        ollama(text).unwrap(),
        [Delta::text("a"), Delta::finished(None)]
    );
}

#[test]
fn ollama_broken_streams() {
    for text in [
        "",
        "{\"message\":{\"content\":\"a\"},\"done\":false}\n",
        "<html>oops</html>\n",
        "{\"message\":{\"content\":\"a\"},\"done\":\"no\"}\n",
    ] {
        assert!(
            matches!(ollama(text), Err(BackendError::Malformed(_))),
            "{text:?}"
        );
    }
    assert_eq!(
        ollama("{\"error\":\"model 'x' not found\"}\n"),
        Err(BackendError::Server("model 'x' not found".into()))
    );
}
