using Intake.Tests.Shared;

namespace Intake.Server.UiTests;

/// <summary>
/// The browser the UI tests drive: Debian's chromium (<c>scripts/servers/chromium.sh install</c>), or the executable
/// named by <c>INTAKE_TEST_CHROMIUM</c>. Never a browser Playwright downloads.
/// </summary>
public static class TestChromium
{
    public static string Executable =>
        Environment.GetEnvironmentVariable("INTAKE_TEST_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    public static bool IsInstalled => File.Exists(Executable);
}

/// <summary>
/// A fact that needs Chromium and PostgreSQL: skipped on a developer machine without either, failing in CI
/// (<c>CI=true</c>), like every test of a real server.
/// </summary>
public sealed class UiFactAttribute : FactAttribute
{
    public UiFactAttribute() =>
        Skip = TestServers.SkipUnless(TestChromium.IsInstalled, $"Chromium is not installed at {TestChromium.Executable} (scripts/servers/chromium.sh install, or set INTAKE_TEST_CHROMIUM)")
            ?? TestServers.SkipUnless(TestPostgres.IsReachable, "PostgreSQL is not reachable (start it with scripts/servers/postgres.sh start, or set INTAKE_TEST_PG)");
}
