using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Runtime.InteropServices;
using Intake.Core.Errors;
using Intake.Shared.Json;
using Microsoft.Extensions.Logging;

namespace Intake.Sources.Http;

/// <summary>
/// Asks an API for one page of one (event, day), with the retries an API needs: 502, 503, 504, 429, dropped
/// connections and timeouts are retried with exponential backoff and jitter, waiting at least what <c>Retry-After</c>
/// says, up to <see cref="HttpSourceOptions.MaxAttempts"/>; 401 and 403 fail at once (security), any other 4xx at once
/// (config), each with an excerpt of the response. A plain loop rather than a Polly pipeline: the decision depends on
/// the status and a header of each response, which reads more directly here. Messages and logs name the method and
/// the URL without its query, never a header: the secret is in a header.
/// </summary>
public sealed class ApiClient
{
    // One handler for the process: connections to the API are reused across pages, loads and event types.
    private static readonly HttpClient Shared = new(new SocketsHttpHandler
    {
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        AutomaticDecompression = DecompressionMethods.All,
        MaxConnectionsPerServer = 64,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan, // per request: request_timeout, applied below
    };

    private static readonly HashSet<HttpStatusCode> Retried = [HttpStatusCode.BadGateway, HttpStatusCode.ServiceUnavailable, HttpStatusCode.GatewayTimeout, HttpStatusCode.TooManyRequests];
    private readonly HttpSourceOptions _config;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly string _event;
    private readonly DateOnly _day;

    public ApiClient(HttpSourceOptions config, string eventType, DateOnly day, TimeProvider time, ILogger log)
    {
        _config = config;
        _event = eventType;
        _day = day;
        _time = time;
        _log = log;
    }

    /// <summary>Requests sent, retries included (for the step's message and the bench).</summary>
    public int Requests { get; private set; }

    public int Retries { get; private set; }

    /// <summary>The page's parsed body, checked to be UTF-8 throughout; the caller disposes it.</summary>
    public async Task<ApiPage> GetPageAsync(PageToken token, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            TimeSpan? wait;
            string why;
            using var request = BuildRequest(token);
            var where = $"{request.Method} {Describe(request.RequestUri!)}";
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_config.RequestTimeout);
            Requests++;
            try
            {
                using var response = await Shared.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                if (response.IsSuccessStatusCode)
                {
                    await using var body = await response.Content.ReadAsStreamAsync(timeout.Token);
                    return await ReadPageAsync(body, $"{where} ({_event} {Day}, {token})", timeout.Token);
                }

                var status = (int)response.StatusCode;
                if (!Retried.Contains(response.StatusCode))
                {
                    var excerpt = await ExcerptAsync(response, timeout.Token);
                    var message = $"{where} ({_event} {Day}, {token}) answered {status} {response.ReasonPhrase}: {excerpt}";
                    throw status switch
                    {
                        401 or 403 => IntakeException.Security(message + " (check the API key or token in auth:)"),
                        >= 400 and < 500 => IntakeException.Config(message),
                        _ => IntakeException.Transient(message),
                    };
                }

                wait = RetryAfter(response);
                why = $"{status} {response.ReasonPhrase}";
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                wait = null;
                why = $"no answer within {_config.RequestTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s (request_timeout)";
            }
            catch (HttpRequestException e)
            {
                wait = null;
                why = e.HttpRequestError.ToString();
            }
            catch (IOException e)
            {
                wait = null;
                why = e.Message;
            }

            if (attempt >= _config.MaxAttempts)
            {
                throw IntakeException.Transient($"{where} ({_event} {Day}, {token}): {why}, still after {attempt} attempts");
            }

            var delay = wait ?? Backoff(attempt);
            Retries++;
            ApiClientLog.Retrying(_log, _event, Day, where, why, attempt, delay);
            await Task.Delay(delay, _time, cancellationToken);
        }
    }

    private string Day => _day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    /// <summary>
    /// Reads the body whole (a page is held in memory anyway) and parses it in place. JSON is UTF-8, but the parser
    /// lets bytes that are not UTF-8 through inside strings, and writing them out again would turn them into U+FFFD:
    /// so the body is checked first, and bad bytes fail the load as <c>format</c>, naming the page, the record and the
    /// byte offset.
    /// </summary>
    private async Task<ApiPage> ReadPageAsync(Stream body, string where, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            var length = 0;
            while (true)
            {
                if (length == buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var n = await body.ReadAsync(buffer.AsMemory(length), cancellationToken);
                if (n == 0)
                {
                    break;
                }

                length += n;
            }

            var bom = buffer.AsSpan(0, length).StartsWith("\uFEFF"u8) ? 3 : 0;
            var json = buffer.AsMemory(bom, length - bom);
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(json);
            }
            catch (JsonException e)
            {
                throw IntakeException.Format($"{where}: the response is not JSON: {e.Message}", e);
            }

            if (Utf8Check.FirstInvalid(json.Span) is { } bad)
            {
                using (doc)
                {
                    var record = RecordAt(doc.RootElement, json.Span, bad.Index);
                    throw IntakeException.Format(
                        $"{where}{(record is { } r ? $", record {r} of the page" : "")}, byte offset {bom + bad.Index} of the response: " +
                        $"{Utf8Check.Describe(json.Span.Slice(bad.Index, bad.Length))} not valid UTF-8, which JSON must be; the API sent text in another encoding");
                }
            }

            var page = new ApiPage(doc, buffer);
            buffer = null;
            return page;
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>The 1-based number of the record (at <c>records</c>) whose bytes hold <paramref name="offset"/>; null when it is outside them.</summary>
    private int? RecordAt(JsonElement root, ReadOnlySpan<byte> json, int offset)
    {
        if (JsonPaths.Find(root, _config.RecordsPath) is not { ValueKind: JsonValueKind.Array } records)
        {
            return null;
        }

        var n = 0;
        foreach (var record in records.EnumerateArray())
        {
            n++;
            // The document reads the body in place, so a record's bytes are a slice of it.
            var raw = JsonMarshal.GetRawUtf8Value(record);
            if (json.Overlaps(raw, out var start) && offset >= start && offset < start + raw.Length)
            {
                return n;
            }
        }

        return null;
    }

    /// <summary>Exponential from base_delay, capped at max_delay, with "equal jitter": half fixed, half random, so parallel pulls do not retry in step.</summary>
    private TimeSpan Backoff(int attempt)
    {
        var exp = Math.Min(_config.MaxDelay.TotalMilliseconds, _config.BaseDelay.TotalMilliseconds * Math.Pow(2, attempt - 1));
        return TimeSpan.FromMilliseconds((exp / 2) + (Random.Shared.NextDouble() * exp / 2));
    }

    /// <summary>Retry-After in seconds or as a date; at most 5 minutes, so a wrong header cannot stall a load for hours.</summary>
    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        var value = header?.Delta ?? (header?.Date is { } date ? date - _time.GetUtcNow() : null);
        return value is { } v ? TimeSpan.FromTicks(Math.Clamp(v.Ticks, 0, TimeSpan.FromMinutes(5).Ticks)) : null;
    }

    private static async Task<string> ExcerptAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            text = text.ReplaceLineEndings(" ").Trim();
            return text.Length == 0 ? "(empty body)" : text.Length > 300 ? text[..300] + "…" : text;
        }
        catch (HttpRequestException)
        {
            return "(body unreadable)";
        }
    }

    /// <summary>The URL for messages: scheme, host and path only (a query may carry values the user considers private).</summary>
    public static string Describe(Uri uri) => uri.GetLeftPart(UriPartial.Path);

    private HttpRequestMessage BuildRequest(PageToken token)
    {
        var values = Values();
        Uri uri;
        HttpRequestMessage request;
        if (token.NextUrl is { } next)
        {
            // The API built this URL for the next page; relative links resolve against the configured URL.
            uri = new Uri(new Uri(_config.Url), next);
            request = new HttpRequestMessage(HttpMethod.Get, uri);
        }
        else
        {
            var query = new List<KeyValuePair<string, string>>();
            foreach (var (k, v) in _config.Query)
            {
                query.Add(new(k, Fill(v, values, json: false)));
            }

            var (param, value) = Pagination(token);
            if (_config.Method == "GET" && param is not null)
            {
                query.Add(new(param, value!));
            }

            var builder = new UriBuilder(_config.Url);
            var existing = builder.Query.TrimStart('?');
            var added = string.Join('&', query.Select(kv => Uri.EscapeDataString(kv.Key) + "=" + Uri.EscapeDataString(kv.Value)));
            builder.Query = existing.Length == 0 ? added : added.Length == 0 ? existing : existing + "&" + added;
            uri = builder.Uri;
            request = new HttpRequestMessage(_config.Method == "POST" ? HttpMethod.Post : HttpMethod.Get, uri);
            if (_config.Method == "POST")
            {
                request.Content = new StringContent(Body(values, param, value), Encoding.UTF8, new MediaTypeHeaderValue("application/json"));
            }
        }

        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        foreach (var (k, v) in _config.Headers)
        {
            if (!request.Headers.TryAddWithoutValidation(k, v))
            {
                request.Content?.Headers.TryAddWithoutValidation(k, v);
            }
        }

        if (_config.AuthHeader is { } name)
        {
            request.Headers.TryAddWithoutValidation(name, _config.AuthValue);
        }

        return request;
    }

    private (string? Param, string? Value) Pagination(PageToken token) => _config.Pagination switch
    {
        PaginationStyle.Cursor => token.Cursor is null ? (null, null) : (_config.CursorParam, token.Cursor),
        PaginationStyle.Page => (_config.PageParam, (token.Page ?? _config.FirstPage).ToString(CultureInfo.InvariantCulture)),
        _ => (null, null),
    };

    private string Body(Dictionary<string, string> values, string? param, string? value)
    {
        var text = _config.Body is { } template ? Fill(template, values, json: true) : "{}";
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(text);
        }
        catch (JsonException e)
        {
            throw IntakeException.Config($"source.body is not a JSON object once filled in: {e.Message}", e);
        }

        if (node is not JsonObject obj)
        {
            throw IntakeException.Config("source.body must be a JSON object (the cursor or page number is added to it)");
        }

        if (param is not null)
        {
            obj[param] = _config.Pagination == PaginationStyle.Page ? JsonValue.Create(int.Parse(value!, CultureInfo.InvariantCulture)) : JsonValue.Create(value);
        }

        return obj.ToJsonString();
    }

    private Dictionary<string, string> Values()
    {
        var from = new DateTimeOffset(_day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        var to = from.AddDays(1);
        return new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["{event}"] = _event,
            ["{day}"] = Day,
            ["{from}"] = from.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
            ["{to}"] = to.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
            ["{from_unix}"] = from.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture),
            ["{to_unix}"] = to.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture),
            ["{limit}"] = _config.PageSize.ToString(CultureInfo.InvariantCulture),
        };
    }

    private static string Fill(string template, Dictionary<string, string> values, bool json)
    {
        foreach (var (k, v) in values)
        {
            // In a JSON body the values go inside the template's quotes: escaped, so an event name cannot break the document.
            template = template.Replace(k, json ? JsonEncodedText.Encode(v).ToString() : v, StringComparison.Ordinal);
        }

        return template;
    }
}

/// <summary>One page of an API's answer: the parsed body and the pooled buffer it is read from in place.</summary>
public sealed class ApiPage : IDisposable
{
    private readonly JsonDocument _document;
    private byte[]? _buffer;

    internal ApiPage(JsonDocument document, byte[] buffer)
    {
        _document = document;
        _buffer = buffer;
    }

    public JsonElement RootElement => _document.RootElement;

    public void Dispose()
    {
        _document.Dispose();
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }
    }
}

internal static partial class ApiClientLog
{
    [LoggerMessage(40, LogLevel.Warning, "{Event} {Day}: {Where} {Why}; attempt {Attempt}, retrying in {Delay}")]
    public static partial void Retrying(ILogger logger, string @event, string day, string where, string why, int attempt, TimeSpan delay);
}
