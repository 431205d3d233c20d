using Intake.Tests.Shared;

namespace Intake.Server.Tests;

/// <summary><c>intake keys create | list | revoke</c> through the real CLI, checked against a running server.</summary>
public sealed class KeysCommandTests
{
    [PostgresFact]
    public async Task CreatedKeyWorks_ListNeverShowsIt_RevokedKeyIsRefused()
    {
        var connection = await TestPostgres.CreateDatabaseAsync("keys");
        using var workspace = new Workspace(connection);
        workspace.WritePipeline("orders", "acme");

        var created = await workspace.RunCliAsync("keys", "create", "--customer", "acme", "--scope", "write", "--name", "nightly job");
        created.ExitCode.ShouldBe(0, created.Stderr);
        var key = created.Stdout.Trim();
        key.ShouldStartWith("ik_");
        created.Stderr.ShouldContain("not shown again");

        (await workspace.RunCliAsync("keys", "create", "--scope", "read")).ExitCode.ShouldBe(2);
        (await workspace.RunCliAsync("keys", "create", "--customer", "acme", "--scope", "owner")).ExitCode.ShouldBe(2);

        var list = await workspace.RunCliAsync("keys", "list", "--json");
        list.ExitCode.ShouldBe(0);
        list.Stdout.ShouldContain("nightly job");
        list.Stdout.ShouldContain("\"scope\":\"write\"");
        list.Stdout.ShouldNotContain(key[16..]);

        // --key-cache 0s: every request asks the catalog, so the revocation below takes effect at once.
        await using var serve = await workspace.StartServeAsync("--key-cache", "0s");
        using var client = serve.Client(key);
        (await client.GetJsonAsync("/api/v1/pipelines")).Status.ShouldBe(200);

        var revoke = await workspace.RunCliAsync("keys", "revoke", key.Split('_')[1]);
        revoke.ExitCode.ShouldBe(0, revoke.Stderr);
        (await client.GetJsonAsync("/api/v1/pipelines")).Status.ShouldBe(401);
        (await workspace.RunCliAsync("keys", "revoke", "000000000000")).ExitCode.ShouldBe(5);
    }
}
