//! Links from alarm messages back to the dashboard, under the server's
//! public address (`--public-url`): without one, messages carry no link.
//! The ingest address the empty projects page gives apps is one too.

/// Builds dashboard URLs under the public address.
#[derive(Debug, Clone, Default)]
pub struct Links {
    base: Option<url::Url>,
}

impl Links {
    /// Links under `public_url` (none: no links).
    pub fn new(public_url: Option<url::Url>) -> Self {
        Self { base: public_url }
    }

    /// The page at `segments` (each one percent-encoded) under the base.
    fn page(&self, segments: &[&str]) -> Option<String> {
        let mut url = self.base.clone()?;
        url.set_query(None);
        url.set_fragment(None);
        {
            let mut path = url.path_segments_mut().ok()?;
            path.pop_if_empty();
            path.extend(segments);
        }
        Some(url.into())
    }

    /// A project's page (its errors).
    pub fn project(&self, project: &str) -> Option<String> {
        self.page(&["projects", project])
    }

    /// A report's page.
    pub fn report(&self, project: &str, report: &uuid::Uuid) -> Option<String> {
        self.page(&["projects", project, "reports", &report.to_string()])
    }

    /// The alarms page (the history).
    pub fn alarms(&self) -> Option<String> {
        self.page(&["alarms"])
    }

    /// Where apps send to (`…/loggerflow/`), as the empty projects page
    /// tells them.
    pub fn ingest(&self) -> Option<String> {
        self.page(&["loggerflow", ""])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(base: &str) -> Links {
        Links::new(Some(url::Url::parse(base).expect("a URL")))
    }

    #[test]
    fn pages_sit_under_the_public_address_with_names_encoded() {
        let id = uuid::Uuid::nil();
        assert_eq!(
            links("https://lf.example.com")
                .report("shop", &id)
                .as_deref(),
            Some(
                "https://lf.example.com/projects/shop/reports/00000000-0000-0000-0000-000000000000"
            )
        );
        assert_eq!(
            links("https://lf.example.com/tools/lf/?x=1#y")
                .project("a b/c?d#e")
                .as_deref(),
            Some("https://lf.example.com/tools/lf/projects/a%20b%2Fc%3Fd%23e")
        );
        assert_eq!(
            links("http://10.0.0.2:8000/").alarms().as_deref(),
            Some("http://10.0.0.2:8000/alarms")
        );
        assert_eq!(
            links("https://lf.example.com/tools").ingest().as_deref(),
            Some("https://lf.example.com/tools/loggerflow/")
        );
        assert_eq!(Links::default().alarms(), None);
    }
}
