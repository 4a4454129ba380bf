fn main() -> std::process::ExitCode {
    service_kit::bootstrap::run_service(
        "usage-accounting",
        usage_accounting::Config::from_env,
        |config| config.listen_addr.clone(),
        usage_accounting::run,
    )
}
