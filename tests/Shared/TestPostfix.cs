namespace Intake.Tests.Shared;

/// <summary>
/// The Postfix instance the mail transport tests run against, described by <c>INTAKE_TEST_POSTFIX</c> as
/// <c>scripts/servers/postfix.sh start</c> prints it:
/// <c>host=…;port=…;config=&lt;postfix -c folder&gt;;log=&lt;maillog_file&gt;;hooks=&lt;folder&gt;;domain=intake.test;user=&lt;pipe user&gt;</c>.
/// Mail for <c>anything@D</c>, D being <see cref="Settings.Domain"/> or one of its subdomains, is delivered by Postfix's
/// <c>pipe</c> transport to the executable <c>hooks/D</c> as <c>hooks/D sender recipient</c> (message on stdin),
/// run as <see cref="Settings.PipeUser"/>; a test takes a subdomain of its own and writes its hook there.
/// </summary>
public static class TestPostfix
{
    private static readonly Lazy<Settings?> Parsed = new(() =>
    {
        var values = TestServers.Settings("INTAKE_TEST_POSTFIX");
        return values.TryGetValue("host", out var host)
            ? new Settings(host, int.Parse(values["port"], System.Globalization.CultureInfo.InvariantCulture), values["config"], values["log"], values["hooks"], values["domain"], values["user"])
            : null;
    });

    private static readonly Lazy<bool> Reachable = new(() => Parsed.Value is { } server && TestServers.Answers(server.Host, server.Port));

    public static bool IsReachable => Reachable.Value;

    public static Settings Server => Parsed.Value ?? throw new InvalidOperationException(
        "INTAKE_TEST_POSTFIX is not set: start the test server with 'eval \"$(scripts/servers/postfix.sh start)\"' (as root after 'scripts/servers/postfix.sh install')");

    /// <param name="Config">The instance's configuration folder (<c>postfix -c</c>, <c>postqueue -c</c>).</param>
    /// <param name="Log">Postfix's own log file (<c>maillog_file</c>).</param>
    /// <param name="Hooks">The folder of pipe commands, one executable per recipient domain.</param>
    /// <param name="Domain">The test domain: it and its subdomains go to the pipe.</param>
    /// <param name="PipeUser">The user the pipe command runs as (never root).</param>
    public sealed record Settings(string Host, int Port, string Config, string Log, string Hooks, string Domain, string PipeUser);
}

/// <summary>A fact that needs the Postfix test server (see <see cref="TestServers.SkipUnless"/>).</summary>
public sealed class PostfixFactAttribute : FactAttribute
{
    public PostfixFactAttribute() =>
        Skip = TestServers.SkipUnless(TestPostfix.IsReachable, "the Postfix test server is not reachable (eval \"$(scripts/servers/postfix.sh start)\" as root to set INTAKE_TEST_POSTFIX)");
}
