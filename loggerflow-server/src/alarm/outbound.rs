//! Where alarms may reach: the HTTP client every alarm kind sends through,
//! and the directory `file` alarms may write in.
//!
//! An alarm's URL is typed by whoever can add alarms, so by default it may
//! not point into the server's own network (SSRF): loopback, private,
//! link-local (cloud metadata at 169.254.169.254), CGNAT, multicast and
//! reserved addresses are refused, checked on the addresses a name resolves
//! to, so a name cannot point there either. Redirects are never followed
//! (a redirect could lead there too) and no proxy from the environment is
//! used. `--allow-private-targets` lifts the address check for servers whose
//! alarms go to an internal service.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// What alarms may reach, shared by every alarm kind (built-in or yours).
#[derive(Clone)]
pub struct Outbound {
    http: reqwest::Client,
    allow_private: bool,
    alarm_dir: Option<PathBuf>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("allow_private", &self.allow_private)
            .field("alarm_dir", &self.alarm_dir)
            .finish_non_exhaustive()
    }
}

impl Default for Outbound {
    /// Public addresses only, no alarm directory.
    fn default() -> Self {
        Self::new(false, None)
    }
}

impl Outbound {
    /// A policy: `allow_private` lets alarms reach private addresses;
    /// `alarm_dir` is where `file` alarms may write (none: nowhere).
    pub fn new(allow_private: bool, alarm_dir: Option<PathBuf>) -> Self {
        let builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("loggerflow/", env!("CARGO_PKG_VERSION")));
        let builder = if allow_private {
            builder
        } else {
            builder.dns_resolver(PublicOnly)
        };
        let http = builder.build().unwrap_or_else(|error| {
            // only a broken TLS setup fails here; an unguarded default
            // client would be worse than one that refuses every request
            tracing::error!(%error, "cannot build the alarms' HTTP client");
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .dns_resolver(PublicOnly)
                .no_proxy()
                .build()
                .unwrap_or_default()
        });
        Self {
            http,
            allow_private,
            alarm_dir,
        }
    }

    /// The HTTP client alarms send with: no redirects, no proxy, timeouts,
    /// and (unless private targets are allowed) only public addresses.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Checks a URL an alarm will post to: `http` or `https`, a host, and
    /// not an address literal in a refused range. Names are checked again
    /// when they are resolved, at every send.
    pub fn check_url(&self, url: &str) -> Result<reqwest::Url, String> {
        let parsed = reqwest::Url::parse(url.trim()).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!(
                "the URL must be http:// or https://, not {}://",
                parsed.scheme()
            ));
        }
        let refused = match parsed.host() {
            None => return Err("the URL has no host".into()),
            Some(url::Host::Ipv4(ip)) => refused_reason(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => refused_reason(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
        };
        match refused {
            Some(why) if !self.allow_private => Err(private_message(why)),
            _ => Ok(parsed),
        }
    }

    /// The address a non-HTTP alarm (e-mail) connects to for `host` and
    /// `port`, under the same policy as [`Outbound::http`]: resolved once,
    /// so the address checked is the address used (no DNS rebinding in
    /// between).
    pub async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, String> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addresses = if self.allow_private {
            tokio::net::lookup_host((host, port))
                .await
                .map(Iterator::collect::<Vec<_>>)
        } else {
            public_addresses(host, port).await
        };
        match addresses {
            Ok(list) => list
                .into_iter()
                .next()
                .ok_or_else(|| "the target's name has no address".to_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::Other => Err(e.to_string()),
            Err(e) => Err(format!("cannot resolve the target: {e}")),
        }
    }

    /// Checks a host an alarm will connect to (not a URL): a name, or an
    /// address written the standard way, not in a refused range. Names
    /// are checked when they are resolved ([`Outbound::resolve`]), at every
    /// send; here `localhost` is refused as loopback, and what a resolver
    /// would read as an address (`2130706433`, `0x7f.1`, `127.1`) must be
    /// written as one.
    pub fn check_host(&self, host: &str) -> Result<(), String> {
        let literal = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = literal.parse::<IpAddr>() {
            return match refused_reason(ip) {
                Some(why) if !self.allow_private => Err(private_message(why)),
                _ => Ok(()),
            };
        }
        if literal.contains([':', '%', '[', ']']) {
            return Err("a host name or an address, without a port or a zone".into());
        }
        // no top-level domain is numeric: this is an address in another form
        let last = literal
            .trim_end_matches('.')
            .rsplit('.')
            .next()
            .unwrap_or_default();
        if !last.is_empty()
            && (last.bytes().all(|b| b.is_ascii_digit())
                || last.len() > 2 && last[..2].eq_ignore_ascii_case("0x"))
        {
            return Err("write an IPv4 address as four decimal numbers (a.b.c.d)".into());
        }
        let lower = literal.trim_end_matches('.').to_ascii_lowercase();
        if !self.allow_private && (lower == "localhost" || lower.ends_with(".localhost")) {
            return Err(private_message("loopback"));
        }
        Ok(())
    }

    /// The directory `file` alarms may write in, if the operator named one.
    pub fn alarm_dir(&self) -> Option<&Path> {
        self.alarm_dir.as_deref()
    }

    /// Where a `file` alarm with `path` writes: a file directly inside the
    /// alarm directory, `path` being its name (or an absolute path to it).
    /// No subdirectory (one could be swapped for a link between the check
    /// and the write), no `..`, no link, nothing but a regular file.
    pub fn alarm_file(&self, path: &str) -> Result<PathBuf, String> {
        let dir = self.alarm_dir.as_deref().ok_or(
            "file alarms are off: the server needs --alarm-dir DIR (LOGGERFLOW_ALARM_DIR) to write alarm files",
        )?;
        let canonical = dir
            .canonicalize()
            .map_err(|e| format!("the alarm directory {} is unusable: {e}", dir.display()))?;
        if path.is_empty() || path.chars().any(char::is_control) {
            return Err("the path must be a file name inside the alarm directory".into());
        }
        let given = Path::new(path);
        let name = if given.is_absolute() {
            // the directory as given or as resolved
            given
                .strip_prefix(dir)
                .or_else(|_| given.strip_prefix(&canonical))
                .map_err(|_| {
                    format!(
                        "`{path}` is outside the alarm directory {}; give a file name inside it",
                        canonical.display()
                    )
                })?
        } else {
            given
        };
        let mut parts = name.components();
        let (Some(Component::Normal(file)), None) = (parts.next(), parts.next()) else {
            return Err(format!(
                "`{path}` must be a plain file name directly inside the alarm directory (no `..`, no subdirectory)"
            ));
        };
        let target = canonical.join(file);
        match target.symlink_metadata() {
            Ok(meta) if meta.file_type().is_symlink() => {
                Err(format!("`{path}` is a symbolic link"))
            }
            Ok(meta) if !meta.is_file() => Err(format!("`{path}` is not a regular file")),
            _ => Ok(target),
        }
    }
}

/// Appends `line` to `path` (created when missing), refusing to follow a
/// symbolic link and to write to anything but a regular file: the file is
/// opened without blocking (a FIFO would otherwise hold the thread until
/// someone reads it) and checked once open.
pub fn append(path: &Path, line: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let mut file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    file.write_all(line)
}

fn private_message(why: &str) -> String {
    format!(
        "the target is a {why} address, which alarms may not reach (start the server with --allow-private-targets to allow it)"
    )
}

/// Why an address may not be an alarm's target, or `None` if it may.
pub fn refused_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => refused_v4(ip),
        IpAddr::V6(ip) => refused_v6(ip),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local (cloud metadata)")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (CGNAT)")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("multicast or reserved")
    } else if (a == 192 && b == 0 && c == 0) || (a == 198 && (b == 18 || b == 19)) {
        Some("special-purpose")
    } else {
        None
    }
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refused_v4(v4);
    }
    let segments = ip.segments();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if segments[0] & 0xfe00 == 0xfc00 {
        Some("private (unique local)")
    } else if segments[0] & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("multicast or reserved")
    } else if segments[..6] == [0; 6] {
        // IPv4-compatible (::a.b.c.d, deprecated): judged by its IPv4 part
        let [.., hi, lo] = segments;
        refused_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))).or(Some("reserved"))
    } else if segments[0] == 0x64 && segments[1] == 0xff9b {
        // NAT64: the IPv4 address it leads to
        let [.., hi, lo] = segments;
        refused_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)))
    } else if segments[0] == 0x2002 {
        // 6to4: the IPv4 address it embeds
        refused_v4(Ipv4Addr::from(
            (u32::from(segments[1]) << 16) | u32::from(segments[2]),
        ))
    } else {
        None
    }
}

/// The addresses of `host`, without those alarms may not reach; an error
/// when none is left (naming the range refused, never the host).
async fn public_addresses(host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
    let mut why = None;
    let public: Vec<SocketAddr> = resolved
        .into_iter()
        .filter(|addr| match refused_reason(addr.ip()) {
            Some(reason) => {
                why = Some(reason);
                false
            }
            None => true,
        })
        .collect();
    if public.is_empty() {
        let message = match why {
            Some(reason) => private_message(reason),
            // the host may be part of a secret URL: not named
            None => "the target's name has no address".to_owned(),
        };
        return Err(std::io::Error::other(message));
    }
    Ok(public)
}

/// A resolver that drops refused addresses and fails when none is left.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let public = public_addresses(&host, 0).await?;
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_in_other_forms_are_refused_when_added() {
        let public = Outbound::default();
        for host in [
            "2130706433",
            "0x7f000001",
            "0177.0.0.1",
            "127.1",
            "[2130706433]",
            "fe80::1%lo",
            "localhost",
            "mail.localhost.",
            "127.0.0.1",
            "[::1]",
            "10.0.0.2",
            "mail.example.com:25",
        ] {
            assert!(public.check_host(host).is_err(), "{host}");
        }
        for host in [
            "mail.example.com",
            "smtp.gmail.com.",
            "8.8.8.8",
            "[2001:db8::1]",
            "a1.b2",
        ] {
            assert!(public.check_host(host).is_ok(), "{host}");
        }
        let private = Outbound::new(true, None);
        assert!(private.check_host("127.0.0.1").is_ok());
        assert!(private.check_host("localhost").is_ok());
        assert!(private.check_host("127.1").is_err(), "still an odd form");
    }

    fn refused(text: &str) -> bool {
        refused_reason(text.parse().expect("an address")).is_some()
    }

    #[test]
    fn internal_addresses_are_refused_public_ones_are_not() {
        for ip in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "2002:7f00:0001::1",
        ] {
            assert!(refused(ip), "{ip} must be refused");
        }
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
        ] {
            assert!(!refused(ip), "{ip} is public");
        }
    }

    #[test]
    fn urls_are_checked_before_any_request() {
        let policy = Outbound::default();
        assert!(policy.check_url("https://hooks.example.com/x").is_ok());
        for bad in [
            "http://127.0.0.1:8080/",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data",
            "http://0x7f000001/",
            "http://2130706433/",
            "file:///etc/passwd",
            "gopher://example.com/",
            "not a url",
        ] {
            assert!(policy.check_url(bad).is_err(), "{bad} must be refused");
        }
        let open = Outbound::new(true, None);
        assert!(open.check_url("http://127.0.0.1:8080/").is_ok());
    }

    #[test]
    fn alarm_files_stay_in_the_alarm_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        let policy = Outbound::new(false, Some(dir.path().to_owned()));
        let inside = policy.alarm_file("alerts.log").expect("a name inside");
        assert!(inside.starts_with(dir.path().canonicalize().expect("canonical")));
        let absolute = dir.path().join("a.log");
        assert!(policy.alarm_file(&absolute.display().to_string()).is_ok());
        for bad in [
            "../escape.log",
            "a/../../escape.log",
            "sub/x.log",
            "/etc/passwd",
            "",
            "x\n.log",
            ".",
        ] {
            assert!(policy.alarm_file(bad).is_err(), "{bad:?} must be refused");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).expect("symlink");
            assert!(policy.alarm_file("out/x.log").is_err());
            assert!(policy.alarm_file("out").is_err(), "a directory");
            std::os::unix::fs::symlink(outside.path().join("f"), dir.path().join("link.log"))
                .expect("symlink");
            assert!(policy.alarm_file("link.log").is_err());
        }
        assert!(Outbound::default().alarm_file("alerts.log").is_err());
    }
}
