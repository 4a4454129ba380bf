fn main() -> std::process::ExitCode {
    service_kit::bootstrap::run_service(
        "gateway",
        gateway::Config::from_env,
        |config| config.listen_addr.clone(),
        gateway::run,
    )
}
