//! How a failed command is told to the user: one `error:` line.

/// The error chain of `err` on one line: causes whose text the message already holds are
/// left out, line breaks (e.g. in an XML error body from S3) become spaces, and a hint is
/// added for errors users often misread (rejected credentials).
pub fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    if let Some(hint) = hint(&line) {
        line.push_str(" (");
        line.push_str(hint);
        line.push(')');
    }
    line
}

fn hint(message: &str) -> Option<&'static str> {
    const CREDENTIALS: [&str; 4] = [
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
    ];
    CREDENTIALS
        .iter()
        .any(|c| message.contains(c))
        .then_some("the credentials were rejected: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the profile in use")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_causes_and_line_breaks_are_folded() {
        let inner = anyhow::anyhow!("403 Forbidden: <Error>\n<Code>InvalidAccessKeyId</Code>");
        let err = inner
            .context("opening x: 403 Forbidden: <Error>\n<Code>InvalidAccessKeyId</Code>")
            .context("output.dir");
        let line = one_line(&err);
        assert_eq!(
            line,
            "output.dir: opening x: 403 Forbidden: <Error> <Code>InvalidAccessKeyId</Code> \
             (the credentials were rejected: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
             or the profile in use)"
        );
        assert_eq!(one_line(&anyhow::anyhow!("plain")), "plain");
    }
}
