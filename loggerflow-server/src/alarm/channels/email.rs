//! `email`: a message through an SMTP server (STARTTLS, TLS, or plain for a
//! local relay), with a plain-text and an HTML part.

use std::time::Duration;

use lettre::message::{Mailbox, Mailboxes, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{field, headline};
use crate::alarm::{Alarm, AlarmMessage, FieldSpec, Fields, Outbound};
use crate::markup::{cut, html};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    /// Plain, then `STARTTLS` (required: a server that does not offer it
    /// is refused). Port 587 by default.
    StartTls,
    /// TLS from the first byte (SMTPS). Port 465 by default.
    Tls,
    /// No encryption, for a relay on the same host or network; refused
    /// with a login. Port 25 by default.
    None,
}

/// The most recipients one alarm sends to.
const MAX_RECIPIENTS: usize = 50;

/// E-mail through SMTP, by `lettre`: to several recipients, with a text and
/// an HTML part (the trace in a `<pre>`).
pub struct Email {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<(String, String)>,
    from: Mailbox,
    to: Mailboxes,
    /// The TLS parameters (the name checked, the private CA if any), built
    /// and checked when the alarm is added.
    tls: Option<TlsParameters>,
    outbound: Outbound,
}

#[async_trait::async_trait]
impl Alarm for Email {
    fn kind() -> &'static str {
        "email"
    }

    fn fields() -> Vec<FieldSpec> {
        vec![
            FieldSpec::required("host", "SMTP server (host name)"),
            FieldSpec::optional("port", "Port (default 587, 465 with tls, 25 with none)"),
            FieldSpec::choice(
                "security",
                "Security (none: a local relay, no login)",
                &["starttls", "tls", "none"],
            ),
            FieldSpec::optional("username", "Login"),
            FieldSpec::optional_secret("password", "Password"),
            FieldSpec::required("from", "From (LoggerFlow <alerts@example.com>)"),
            FieldSpec::required("to", "To (addresses separated by commas)"),
            FieldSpec::optional(
                "ca_cert",
                "CA certificate (PEM), for a server with a private CA",
            )
            .multiline(),
        ]
    }

    fn from_fields(fields: &Fields, outbound: &Outbound) -> Result<Self, String> {
        let host = field(fields, "host").trim().to_owned();
        if host.is_empty()
            || host.len() > 253
            || host
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "/@?#".contains(c))
        {
            return Err("`host` must be a host name or an address".into());
        }
        outbound
            .check_host(&host)
            .map_err(|e| format!("`host`: {e}"))?;
        let domain = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&host)
            .to_owned();
        let security = match field(fields, "security").trim() {
            "" | "starttls" => Security::StartTls,
            "tls" => Security::Tls,
            "none" => Security::None,
            _ => return Err("`security` is starttls, tls or none".into()),
        };
        let port = match field(fields, "port").trim() {
            "" => match security {
                Security::StartTls => 587,
                Security::Tls => 465,
                Security::None => 25,
            },
            port => port
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or("`port` must be 1 to 65535")?,
        };
        let username = field(fields, "username").trim().to_owned();
        let password = field(fields, "password");
        let credentials = match (username.is_empty(), password.is_empty()) {
            (true, true) => None,
            (false, false) => Some((username, password)),
            _ => return Err("`username` and `password` go together".into()),
        };
        if credentials.is_some() && security == Security::None {
            return Err(
                "a password is never sent unencrypted: use `security` starttls or tls".into(),
            );
        }
        let from: Mailbox = field(fields, "from")
            .trim()
            .parse()
            .map_err(|_| "`from` is not an e-mail address".to_owned())?;
        let to: Mailboxes = field(fields, "to")
            .trim()
            .parse()
            .map_err(|_| "`to` must be e-mail addresses separated by commas".to_owned())?;
        let count = to.iter().count();
        if count == 0 || count > MAX_RECIPIENTS {
            return Err(format!("`to` takes 1 to {MAX_RECIPIENTS} addresses"));
        }
        let roots = match fields.get("ca_cert").filter(|c| !c.trim().is_empty()) {
            None => Vec::new(),
            Some(pem) => pem_certificates(pem)?,
        };
        let tls = match security {
            Security::None if !roots.is_empty() => {
                return Err("`ca_cert` is for `security` starttls or tls".into());
            }
            Security::None => None,
            Security::StartTls | Security::Tls => {
                let mut params = TlsParameters::builder(domain);
                for root in roots {
                    params = params.add_root_certificate(root);
                }
                Some(params.build_rustls().map_err(|_| {
                    "`ca_cert` is not a certificate TLS can use (or `host` is not a name a certificate can have)"
                        .to_owned()
                })?)
            }
        };
        Ok(Self {
            host,
            port,
            security,
            credentials,
            from,
            to,
            tls,
            outbound: outbound.clone(),
        })
    }

    async fn send(&self, message: &AlarmMessage) -> Result<(), String> {
        let email = self.email(message)?;
        // resolved once under the operator's policy; the name is still what
        // the certificate is checked against (`tls`, built with it)
        let address = self.outbound.resolve(&self.host, self.port).await?;
        let tls = match (self.security, &self.tls) {
            (Security::StartTls, Some(params)) => Tls::Required(params.clone()),
            (Security::Tls, Some(params)) => Tls::Wrapper(params.clone()),
            _ => Tls::None,
        };
        let mut transport =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(address.ip().to_string())
                .port(address.port())
                .tls(tls)
                .timeout(Some(Duration::from_secs(10)));
        if let Some((username, password)) = &self.credentials {
            transport = transport.credentials(Credentials::new(username.clone(), password.clone()));
        }
        let response = transport
            .build()
            .send(email)
            .await
            .map_err(|e| failure(&e))?;
        if response.is_positive() {
            Ok(())
        } else {
            Err(format!("SMTP: the server answered {}", response.code()))
        }
    }
}

impl Email {
    /// The message: subject, a text part and an HTML part.
    fn email(&self, message: &AlarmMessage) -> Result<Message, String> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject(message));
        for to in self.to.iter() {
            builder = builder.to(to.clone());
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                text_part(message),
                html_part(message),
            ))
            .map_err(|e| format!("cannot build the e-mail: {e}"))
    }
}

/// What went wrong, in lettre's terms and the server's reply code, never
/// the text the peer sent (any host the policy allows could be made to
/// show its banner or its secrets through an alarm's error).
fn failure(error: &lettre::transport::smtp::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_tls() {
        "the TLS handshake failed (is the certificate valid for `host`?)"
    } else if error.is_permanent() {
        "the server refused the message"
    } else if error.is_transient() {
        "the server deferred the message (try again later)"
    } else if error.is_response() {
        "the server's answer is not SMTP"
    } else if error.is_client() {
        "the server does not offer what this alarm needs (STARTTLS or the login)"
    } else {
        "the connection failed"
    };
    match error.status() {
        Some(code) => format!("SMTP: {what} (code {code})"),
        None => format!("SMTP: {what}"),
    }
}

/// `[LoggerFlow] shop: new error: …`: one line, at most 200 characters.
pub fn subject(message: &AlarmMessage) -> String {
    let line: String = format!("[LoggerFlow] {}: {}", message.project, message.message)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    cut(&line, 200)
}

/// The plain-text part.
pub fn text_part(message: &AlarmMessage) -> String {
    let mut text = format!(
        "{}: {}\n\n{}\n\nProject: {}\nTrigger: {}\nWhen:    {}\n",
        headline(&message.trigger),
        message.project,
        message.message,
        message.project,
        message.trigger,
        message.time
    );
    if let Some(link) = &message.link {
        text.push_str(&format!("Open:    {link}\n"));
    }
    if let Some(trace) = &message.trace {
        text.push('\n');
        text.push_str(trace);
        text.push('\n');
    }
    text
}

/// The HTML part: everything from apps escaped, the trace in a `<pre>`.
pub fn html_part(message: &AlarmMessage) -> String {
    let mut page = format!(
        "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;color:#1f2328\">\
         <h2 style=\"margin:0 0 8px\">{}: {}</h2>\
         <p style=\"font-size:15px\">{}</p>\
         <table style=\"border-collapse:collapse;font-size:14px\">\
         <tr><th align=\"left\" style=\"padding-right:12px\">Project</th><td>{}</td></tr>\
         <tr><th align=\"left\" style=\"padding-right:12px\">Trigger</th><td><code>{}</code></td></tr>\
         <tr><th align=\"left\" style=\"padding-right:12px\">When</th><td>{}</td></tr></table>",
        html(headline(&message.trigger)),
        html(&message.project),
        html(&message.message),
        html(&message.project),
        html(&message.trigger),
        html(&message.time),
    );
    if let Some(link) = &message.link {
        page.push_str(&format!(
            "<p><a href=\"{}\">Open in LoggerFlow</a></p>",
            html(link)
        ));
    }
    if let Some(trace) = &message.trace {
        page.push_str(&format!(
            "<pre style=\"background:#f6f8fa;padding:8px;font-size:12px;overflow:auto\">{}</pre>",
            html(trace)
        ));
    }
    page.push_str("</body></html>");
    page
}

/// The certificates of a PEM text. A PEM pasted into a one-line form field
/// has lost its line breaks: each block's base64 is re-wrapped first.
fn pem_certificates(text: &str) -> Result<Vec<Certificate>, String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut roots = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start + BEGIN.len()..];
        let end = after
            .find(END)
            .ok_or("`ca_cert`: a certificate has no END line")?;
        let base64: String = after[..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let mut pem = String::from(BEGIN);
        for line in base64.as_bytes().chunks(64) {
            pem.push('\n');
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        }
        pem.push('\n');
        pem.push_str(END);
        pem.push('\n');
        roots.push(
            Certificate::from_pem(pem.as_bytes())
                .map_err(|_| "`ca_cert` is not a PEM certificate".to_owned())?,
        );
        rest = &after[end + END.len()..];
    }
    if roots.is_empty() {
        return Err("`ca_cert` holds no PEM certificate".into());
    }
    Ok(roots)
}
