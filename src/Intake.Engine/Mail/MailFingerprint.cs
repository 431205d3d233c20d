using System.Security.Cryptography;
using System.Text;

namespace Intake.Engine.Mail;

/// <summary>
/// A message's fingerprint: the SHA-256 of its bytes without the trace header fields at its top (<c>Received</c>,
/// <c>Return-Path</c>, <c>Delivered-To</c>, <c>X-Original-To</c>), computed as the bytes stream by, never holding the
/// message. A message sent again through Postfix gets a new <c>Received:</c> (and the pipe its own Return-Path,
/// Delivered-To and X-Original-To) at the top; everything the sender wrote is the same, so it is the same load.
/// </summary>
/// <remarks>
/// Only the leading block is skipped: from the first other field on (or the blank line that ends the header), every byte
/// counts, so a trace field further down, or any change to a later field or the body, is another fingerprint. A skipped
/// field takes its folded continuation lines (starting with a space or a tab) with it. The copy in the inbox is the
/// message as received, byte for byte; only the fingerprint leaves the trace fields out.
/// </remarks>
public sealed class MailFingerprint : IDisposable
{
    /// <summary>The trace fields a mail server or Postfix's pipe adds on the way (RFC 5321 section 4.4, Postfix's pipe flags R, D and O).</summary>
    private static readonly string[] TraceFields = ["received", "return-path", "delivered-to", "x-original-to"];

    // The longest trace field name plus room for the colon and obsolete white space before it.
    private const int MaxName = 24;

    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly byte[] _name = new byte[MaxName];
    private int _nameLength;
    private State _state = State.LineStart;
    private bool _skippedAny;

    private enum State
    {
        /// <summary>At the start of a header line of the leading block; the field name is being read into <see cref="_name"/>.</summary>
        LineStart,

        /// <summary>Inside a trace field (or its continuation): skipped up to the end of the line.</summary>
        Skipping,

        /// <summary>Past the leading block: every byte is hashed.</summary>
        Hashing,
    }

    /// <summary>Takes the next bytes of the message.</summary>
    public void Append(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            switch (_state)
            {
                case State.Hashing:
                    _hash.AppendData(data);
                    return;
                case State.Skipping:
                    var end = data.IndexOf((byte)'\n');
                    if (end < 0)
                    {
                        return;
                    }

                    data = data[(end + 1)..];
                    _state = State.LineStart;
                    _nameLength = 0;
                    break;
                default:
                    data = ReadName(data);
                    break;
            }
        }
    }

    /// <summary>The fingerprint (SHA-256, hex, lower case) of everything appended.</summary>
    public string Finish()
    {
        if (_state == State.LineStart && _nameLength > 0)
        {
            _hash.AppendData(_name, 0, _nameLength); // a message that ends inside its first field name
        }

        return Convert.ToHexStringLower(_hash.GetHashAndReset());
    }

    /// <summary>The fingerprint of a whole message held in memory (tests, tools).</summary>
    public static string Of(ReadOnlySpan<byte> message)
    {
        using var fingerprint = new MailFingerprint();
        fingerprint.Append(message);
        return fingerprint.Finish();
    }

    public void Dispose() => _hash.Dispose();

    /// <summary>Reads a line's first bytes until it is known whether the line is part of a trace field; returns the rest.</summary>
    private ReadOnlySpan<byte> ReadName(ReadOnlySpan<byte> data)
    {
        if (_nameLength == 0 && _skippedAny && (data[0] == (byte)' ' || data[0] == (byte)'\t'))
        {
            _state = State.Skipping; // a folded line of the trace field before it
            return data;
        }

        var i = 0;
        while (i < data.Length)
        {
            var b = data[i];
            if (b == (byte)':')
            {
                if (IsTrace(_name.AsSpan(0, _nameLength)))
                {
                    _skippedAny = true;
                    _state = State.Skipping;
                    return data[(i + 1)..];
                }

                return StartHashing(data[i..]);
            }

            if (b is (byte)'\r' or (byte)'\n' || _nameLength == MaxName)
            {
                return StartHashing(data[i..]); // the blank line ending the header, or not a trace field's name
            }

            _name[_nameLength++] = b;
            i++;
        }

        return [];
    }

    /// <summary>The leading block ended at this line: it is hashed from its start (the name bytes held back, then <paramref name="rest"/>).</summary>
    private ReadOnlySpan<byte> StartHashing(ReadOnlySpan<byte> rest)
    {
        _hash.AppendData(_name, 0, _nameLength);
        _nameLength = 0;
        _state = State.Hashing;
        return rest;
    }

    private static bool IsTrace(ReadOnlySpan<byte> name)
    {
        var text = Encoding.ASCII.GetString(name).TrimEnd(' ', '\t');
        return TraceFields.Any(f => string.Equals(f, text, StringComparison.OrdinalIgnoreCase));
    }
}
