fn main() -> std::process::ExitCode {
    service_kit::bootstrap::run_service(
        "conversation",
        conversation::Config::from_env,
        |config| config.listen_addr.clone(),
        conversation::run,
    )
}
