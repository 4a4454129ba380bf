fn main() -> std::process::ExitCode {
    service_kit::bootstrap::run_service(
        "llm-router",
        service_kit::auth::AuthSettings::new(service_kit::auth::Issuer::Router, true),
        llm_router::Config::from_env,
        |config| config.listen_addr.clone(),
        llm_router::run,
    )
}
