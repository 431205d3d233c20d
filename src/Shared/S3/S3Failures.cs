using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Amazon.Runtime;
using Intake.Core.Errors;

namespace Intake.Shared.S3;

/// <summary>What an S3 failure means for the caller.</summary>
internal enum S3Failure
{
    /// <summary>Not an S3 or network failure: let it through unchanged.</summary>
    Unknown,
    /// <summary>The key does not exist (404 NoSuchKey, or a HEAD answered 404).</summary>
    NotFound,
    /// <summary>The bucket does not exist.</summary>
    NoSuchBucket,
    /// <summary>Wrong keys, a missing permission, a clock too far off: retrying does not help.</summary>
    AccessDenied,
    /// <summary>A conditional request (If-Match) found a different object: it changed meanwhile.</summary>
    PreconditionFailed,
    /// <summary>The server's certificate is not trusted (or names another host).</summary>
    Tls,
    /// <summary>Network, timeout, 5xx, throttling, a body corrupted on the way: worth another attempt.</summary>
    Transient,
    /// <summary>Any other 4xx: the request cannot work as configured.</summary>
    Rejected,
}

/// <summary>
/// Classifies what the AWS SDK throws, once, at the adapter boundary, and turns it into an
/// <see cref="IntakeException"/>. Messages name the bucket and key and the S3 error code, never a secret.
/// </summary>
internal static class S3Failures
{
    // S3 error codes (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html) that clear up by themselves.
    private static readonly HashSet<string> TransientCodes = new(StringComparer.Ordinal)
    {
        "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests",
        "RequestTimeout", "RequestTimeoutException", "InternalError", "ServiceUnavailable", "OperationAborted",
        // The body arrived corrupted (Content-MD5 mismatch, short body): sending it again fixes it.
        "BadDigest", "IncompleteBody",
        // A multipart upload removed under us (a lifecycle rule, another process): start the put again.
        "NoSuchUpload",
    };

    private static readonly HashSet<string> AccessCodes = new(StringComparer.Ordinal)
    {
        "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
        "TokenRefreshRequired", "AccountProblem", "AllAccessDisabled", "RequestTimeTooSkewed", "AuthorizationHeaderMalformed",
    };

    public static S3Failure Classify(Exception exception)
    {
        if (exception is AmazonServiceException service && (service.StatusCode != 0 || service.ErrorCode is not null))
        {
            var code = service.ErrorCode ?? "";
            return code switch
            {
                "NoSuchBucket" => S3Failure.NoSuchBucket,
                "NoSuchKey" or "NotFound" => S3Failure.NotFound,
                "PreconditionFailed" => S3Failure.PreconditionFailed,
                _ when AccessCodes.Contains(code) => S3Failure.AccessDenied,
                _ when TransientCodes.Contains(code) => S3Failure.Transient,
                _ => service.StatusCode switch
                {
                    HttpStatusCode.NotFound => S3Failure.NotFound,
                    HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized => S3Failure.AccessDenied,
                    HttpStatusCode.PreconditionFailed => S3Failure.PreconditionFailed,
                    HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout => S3Failure.Transient,
                    >= HttpStatusCode.InternalServerError => S3Failure.Transient,
                    >= HttpStatusCode.BadRequest => S3Failure.Rejected,
                    _ => ClassifyCause(exception.InnerException),
                },
            };
        }

        return ClassifyCause(exception);
    }

    /// <summary>
    /// Turns a failure of one S3 call into an <see cref="IntakeException"/>; null when it is not an S3 or
    /// network failure (a bug, a cancellation), which the caller rethrows unchanged.
    /// </summary>
    /// <param name="what">The action and its place, e.g. <c>store 'cold': cannot upload s3://bucket/key</c>.</param>
    /// <param name="bucket">Named in the message when the bucket does not exist.</param>
    public static IntakeException? ToIntake(Exception exception, string what, string bucket) => ToIntake(exception, what, bucket, "ca_file");

    /// <inheritdoc cref="ToIntake(Exception, string, string)"/>
    /// <param name="exception">The failure.</param>
    /// <param name="what">The action and its place.</param>
    /// <param name="bucket">Named in the message when the bucket does not exist.</param>
    /// <param name="caFileSetting">What the configuration calls the CA file, named when the server's certificate is not trusted.</param>
    public static IntakeException? ToIntake(Exception exception, string what, string bucket, string caFileSetting)
    {
        var detail = Detail(exception);
        return Classify(exception) switch
        {
            S3Failure.NoSuchBucket => IntakeException.Config($"{what}: bucket '{bucket}' does not exist", exception),
            // The SDK's text for these never holds the secret, but the code alone says enough and is certain not to.
            S3Failure.AccessDenied => IntakeException.Config(
                $"{what}: access denied ({Code(exception)}); check the access key, the secret key and the permissions on bucket '{bucket}'", exception),
            S3Failure.Tls => IntakeException.Config(
                $"{what}: the server's TLS certificate is not trusted ({detail}); set '{caFileSetting}' to the PEM of its CA", exception),
            S3Failure.Transient => IntakeException.Transient($"{what}: {detail}", exception),
            S3Failure.PreconditionFailed => IntakeException.Transient($"{what}: the object changed while it was being copied ({detail})", exception),
            S3Failure.Rejected or S3Failure.NotFound => IntakeException.Config($"{what}: the server refused the request ({detail})", exception),
            _ => null,
        };
    }

    /// <summary>Runs one S3 call, turning its failures into <see cref="IntakeException"/>s; the caller's own cancellation passes through.</summary>
    public static Task<T> CallAsync<T>(
        Func<CancellationToken, Task<T>> call, string what, string bucket, CancellationToken cancellationToken) =>
        CallAsync(call, what, bucket, "ca_file", cancellationToken);

    /// <inheritdoc cref="CallAsync{T}(Func{CancellationToken, Task{T}}, string, string, CancellationToken)"/>
    public static async Task<T> CallAsync<T>(
        Func<CancellationToken, Task<T>> call, string what, string bucket, string caFileSetting, CancellationToken cancellationToken)
    {
        try
        {
            return await call(cancellationToken);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ToIntake(ex, what, bucket, caFileSetting) is { } failure)
        {
            throw failure;
        }
    }

    private static S3Failure ClassifyCause(Exception? exception)
    {
        // Outermost first: an AuthenticationException inside an HttpRequestException is a TLS problem, not the network.
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is AuthenticationException)
            {
                return S3Failure.Tls;
            }
        }

        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case HttpRequestException or IOException or SocketException or TimeoutException:
                // HttpClient.Timeout surfaces as a TaskCanceledException; callers filter their own cancellation first.
                case TaskCanceledException:
                    return S3Failure.Transient;
                case AmazonServiceException { StatusCode: >= HttpStatusCode.InternalServerError }:
                    return S3Failure.Transient;
            }
        }

        return S3Failure.Unknown;
    }

    private static string Code(Exception exception) =>
        exception is AmazonServiceException { ErrorCode: { Length: > 0 } code } service ? $"{(int)service.StatusCode} {code}" :
        exception is AmazonServiceException s ? $"HTTP {(int)s.StatusCode}" : "no answer";

    private static string Detail(Exception exception)
    {
        if (exception is AmazonServiceException { StatusCode: not 0 } service)
        {
            return $"{Code(exception)}: {service.Message}";
        }

        // The innermost message says what happened on the wire ("Connection refused", "The SSL connection could not be established").
        var innermost = exception;
        while (innermost.InnerException is not null)
        {
            innermost = innermost.InnerException;
        }

        // Plain words only: the exception types go to the log, not into a message a person reads.
        return ReferenceEquals(innermost, exception) || innermost.Message == exception.Message
            ? exception.Message
            : $"{exception.Message} ({innermost.Message})";
    }
}
