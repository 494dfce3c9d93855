//! Docker's `config.json` as the registry client reads it for credentials:
//! any bytes resolve or fail, never panic, and no helper program runs. The
//! first line of the input is the registry host, the rest the file.
#![no_main]
use libfuzzer_sys::fuzz_target;
use oci_registry::HostCredentials;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let (host, text) = input
        .split_once('\n')
        .unwrap_or(("localhost:5000", input.as_ref()));
    let helper = |name: &str, server: &str| {
        Ok(HostCredentials::Basic {
            username: format!("helper {name}"),
            password: server.to_string(),
        })
    };
    if let Ok(creds) = oci_registry::docker_config_credentials(text, host, &helper) {
        let _ = creds.who();
    }
});
