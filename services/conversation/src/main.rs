fn main() -> std::process::ExitCode {
    service_kit::bootstrap::run_service(
        "conversation",
        service_kit::auth::AuthSettings::new(service_kit::auth::Issuer::Conversation, true),
        conversation::Config::from_env,
        |config| config.listen_addr.clone(),
        conversation::run,
    )
}
