//! `component.json`, the manifest a workflow host reads, as this host applies it: only
//! the hosts under `allowedOutboundHosts` are reachable from the component.

use std::sync::LazyLock;

/// The manifest of this checkout, compiled in.
pub const MANIFEST: &str = include_str!("../../../component.json");

/// `allowedOutboundHosts`, each as `scheme://authority` (e.g. `https://graph.facebook.com`).
pub fn allowed_outbound_hosts() -> &'static [String] {
    static HOSTS: LazyLock<Vec<String>> = LazyLock::new(|| {
        let manifest: serde_json::Value =
            serde_json::from_str(MANIFEST).expect("component.json is JSON");
        manifest["allowedOutboundHosts"]
            .as_array()
            .expect("component.json lists allowedOutboundHosts")
            .iter()
            .map(|host| {
                host.as_str()
                    .expect("an allowed host is a string")
                    .trim_end_matches('/')
                    .to_ascii_lowercase()
            })
            .collect()
    });
    &HOSTS
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_graph_api_and_metas_media_host_are_the_only_allowed_hosts() {
        assert_eq!(
            super::allowed_outbound_hosts(),
            ["https://graph.facebook.com", "https://lookaside.fbsbx.com"]
        );
    }
}
