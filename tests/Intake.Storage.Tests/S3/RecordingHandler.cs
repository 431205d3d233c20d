using System.Collections.Concurrent;

namespace Intake.Storage.Tests.S3;

/// <summary>
/// Sits between the SDK and the network: records every request (method, path and query), counts the part
/// uploads in flight, and lets a test rewrite a response or fail a request, to reach the failure paths a
/// healthy server never takes.
/// </summary>
internal sealed class RecordingHandler : DelegatingHandler
{
    private int _partsInFlight;
    private long _acknowledgedPartBytes;

    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>The most part uploads ever in flight at once.</summary>
    public int MaxPartsInFlight { get; private set; }

    /// <summary>Bytes of part uploads the server has answered with success.</summary>
    public long AcknowledgedPartBytes => Interlocked.Read(ref _acknowledgedPartBytes);

    /// <summary>Given the request line ("PUT /bucket/key?partNumber=2&amp;uploadId=..."), an exception to throw instead of sending it.</summary>
    public Func<string, Exception?>? Fail { get; set; }

    /// <summary>Rewrites a response before the SDK sees it.</summary>
    public Action<string, HttpResponseMessage>? Rewrite { get; set; }

    public int Count(string method, string contains) =>
        Requests.Count(r => r.StartsWith(method + " ", StringComparison.Ordinal) && r.Contains(contains, StringComparison.Ordinal));

    public Func<HttpMessageHandler, HttpMessageHandler> Wrap => inner =>
    {
        InnerHandler = inner;
        return this;
    };

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var line = $"{request.Method} {request.RequestUri!.PathAndQuery}";
        Requests.Enqueue(line);
        if (Fail?.Invoke(line) is { } failure)
        {
            throw failure;
        }

        var isPart = request.Method == HttpMethod.Put && line.Contains("partNumber=", StringComparison.Ordinal);
        if (isPart)
        {
            lock (Requests)
            {
                MaxPartsInFlight = Math.Max(MaxPartsInFlight, ++_partsInFlight);
            }
        }

        try
        {
            var response = await base.SendAsync(request, cancellationToken);
            if (isPart && response.IsSuccessStatusCode)
            {
                Interlocked.Add(ref _acknowledgedPartBytes, request.Content?.Headers.ContentLength ?? 0);
            }

            Rewrite?.Invoke(line, response);
            return response;
        }
        finally
        {
            if (isPart)
            {
                lock (Requests)
                {
                    _partsInFlight--;
                }
            }
        }
    }
}
