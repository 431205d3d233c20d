using Intake.Engine.Configuration;
using Intake.Sources.Http;

namespace Intake.Engine.SourceKinds.Http;

/// <summary>
/// Reads <c>source.kind: http</c> (see <see cref="HttpSourceOptions"/>) for <see cref="HttpKind"/>. Like the rest of
/// the configuration, every problem is reported with its file, line and key, and unknown keys are errors.
/// </summary>
internal static class HttpSourceReader
{
    public static HttpSourceOptions Read(YamlScope src)
    {
        var d = new HttpSourceOptions { Url = "", Events = [] };
        var url = src.String("url", required: true) ?? "";
        if (url.Length > 0 && !(Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"))
        {
            src.Report("url", $"'{url}' is not an http:// or https:// URL");
        }

        var method = src.String("method", fallback: d.Method)!.ToUpperInvariant();
        if (method is not ("GET" or "POST"))
        {
            src.Report("method", $"'{method}' is not supported (GET, POST)");
        }

        var headers = Map(src.Scope("headers"), StringComparer.OrdinalIgnoreCase);
        var query = Map(src.Scope("query"), StringComparer.Ordinal);
        var body = src.String("body");
        if (body is not null && method != "POST")
        {
            src.Report("body", "is only sent with method: POST");
        }

        string? authHeader = null, authValue = null;
        var auth = src.Scope("auth");
        if (auth.Exists)
        {
            var bearer = auth.String("bearer");
            var header = auth.String("header");
            var key = auth.String("key");
            if (bearer is not null)
            {
                (authHeader, authValue) = ("Authorization", "Bearer " + bearer);
                if (header is not null || key is not null)
                {
                    auth.Report("bearer", "give either bearer, or header and key, not both");
                }
            }
            else if (key is not null)
            {
                (authHeader, authValue) = (header ?? "X-Api-Key", key);
            }
            else
            {
                auth.Report("key", "is required (or bearer): the secret, best as ${API_KEY} from the environment or .env");
            }

            if (authValue is { Length: 0 })
            {
                auth.Report(bearer is not null ? "bearer" : "key", "is empty; set the variable it names in the environment or in .env");
            }

            auth.RejectUnknown();
        }

        var events = src.StringList("events") ?? [];
        if (events.Count == 0)
        {
            src.Report("events", "is required: the event types to read, e.g. [charge, refund]");
        }

        var pageSizeMin = src.Int("page_size_min", d.PageSizeMin, 1);
        var pageSizeMax = src.Int("page_size_max", d.PageSizeMax, 1);
        var pageSize = src.Int("page_size", d.PageSize, 1);
        if (pageSize < pageSizeMin || pageSize > pageSizeMax)
        {
            src.Report("page_size", $"{pageSize} is outside the API's limits ({pageSizeMin}..{pageSizeMax}, from page_size_min and page_size_max)");
        }

        var p = src.Scope("pagination");
        var styleWord = p.String("style");
        var style = d.Pagination;
        switch (styleWord)
        {
            case null: break;
            case "cursor": style = PaginationStyle.Cursor; break;
            case "next_link": style = PaginationStyle.NextLink; break;
            case "page": style = PaginationStyle.Page; break;
            default: p.Report("style", $"'{styleWord}' is not a pagination style (cursor, next_link, page)"); break;
        }

        var pagination = new
        {
            CursorField = p.String("cursor_field", fallback: d.CursorField)!,
            CursorParam = p.String("cursor_param", fallback: d.CursorParam)!,
            NextLink = p.String("next_link", fallback: d.NextLinkPath)!,
            HasMore = p.String("has_more"),
            PageParam = p.String("page_param", fallback: d.PageParam)!,
            FirstPage = p.Int("first_page", d.FirstPage, 0),
        };
        p.RejectUnknown();

        var keyTemplate = src.String("key_template", fallback: d.KeyTemplate)!;
        if (Engine.Http.PartKeys.Problem(keyTemplate, events.Count) is { } problem)
        {
            src.Report("key_template", problem);
        }

        var day = src.String("day", fallback: d.Day)!;
        if (day is not ("yesterday" or "today"))
        {
            src.Report("day", $"'{day}' is not yesterday or today (the day a scheduled run pulls; backfill takes any day)");
        }

        var retry = src.Scope("retry");
        var config = new HttpSourceOptions
        {
            Url = url,
            Method = method,
            Headers = headers,
            Query = query,
            Body = body,
            AuthHeader = authHeader,
            AuthValue = authValue,
            Events = events,
            PageSize = pageSize,
            PageSizeMin = pageSizeMin,
            PageSizeMax = pageSizeMax,
            RecordsPath = src.String("records", fallback: d.RecordsPath)!,
            Pagination = style,
            CursorField = pagination.CursorField,
            CursorParam = pagination.CursorParam,
            NextLinkPath = pagination.NextLink,
            HasMorePath = pagination.HasMore,
            PageParam = pagination.PageParam,
            FirstPage = pagination.FirstPage,
            Parallel = src.Int("parallel", d.Parallel, 1, 64),
            RollEvery = src.Int("roll_every", d.RollEvery, 1),
            CheckpointInterval = src.Duration("checkpoint_interval", d.CheckpointInterval),
            KeyTemplate = keyTemplate,
            Store = src.String("store"),
            Area = src.Name("area", fallback: d.Area),
            Flatten = src.Bool("flatten", d.Flatten),
            Day = day,
            RequestTimeout = src.Duration("request_timeout", d.RequestTimeout),
            MaxAttempts = retry.Int("max_attempts", d.MaxAttempts, 1, 100),
            BaseDelay = retry.Duration("base_delay", d.BaseDelay),
            MaxDelay = retry.Duration("max_delay", d.MaxDelay),
        };
        retry.RejectUnknown();
        return config;
    }

    private static Dictionary<string, string> Map(YamlScope scope, StringComparer comparer)
    {
        var result = new Dictionary<string, string>(comparer);
        foreach (var (key, _) in scope.Entries.ToList())
        {
            result[key] = scope.String(key) ?? "";
        }

        return result;
    }
}
