using System.Globalization;
using Intake.TestApi;

// dotnet Intake.TestApi.dll [--port 8099] [--records 1000] [--api-key KEY] [--latency-ms 0] [--fail-every 0]
//   [--fail-probability 0] [--seed 42] [--min-page 10] [--max-page 100]
var options = new TestApiOptions { ApiKey = Environment.GetEnvironmentVariable("TESTAPI_KEY") ?? "test-key" };
var port = 8099;
for (var i = 0; i + 1 < args.Length; i += 2)
{
    var v = args[i + 1];
    switch (args[i])
    {
        case "--port": port = int.Parse(v, CultureInfo.InvariantCulture); break;
        case "--records": options.RecordsPerDay = int.Parse(v, CultureInfo.InvariantCulture); break;
        case "--api-key": options.ApiKey = v.Length == 0 ? null : v; break;
        case "--latency-ms": options.Latency = TimeSpan.FromMilliseconds(int.Parse(v, CultureInfo.InvariantCulture)); break;
        case "--fail-every": options.Fail502Every = int.Parse(v, CultureInfo.InvariantCulture); break;
        case "--fail-probability": options.Fail502Probability = double.Parse(v, CultureInfo.InvariantCulture); break;
        case "--seed": options.Seed = int.Parse(v, CultureInfo.InvariantCulture); break;
        case "--min-page": options.MinPageSize = int.Parse(v, CultureInfo.InvariantCulture); break;
        case "--max-page": options.MaxPageSize = int.Parse(v, CultureInfo.InvariantCulture); break;
        default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
    }
}

await using var server = await TestApiServer.StartAsync(options, port);
Console.WriteLine($"test API listening on {server.BaseUrl}");
// The host's console lifetime turns SIGTERM and Ctrl+C into a shutdown.
await server.WaitForShutdownAsync();
return 0;
