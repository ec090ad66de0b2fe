/* agent/java/io/shardcron/Json.java: the worker protocol's JSON, flat objects
 * only ({"k":"v","n":1,"b":true,"x":null}), so the jar needs no library. */
package io.shardcron;

import java.util.LinkedHashMap;
import java.util.Map;

final class Json {
    private Json() {}

    /** Parse one flat object; values come back as text (null for JSON null). */
    static Map<String, String> parse(String s) {
        Map<String, String> out = new LinkedHashMap<>();
        int[] pos = {skip(s, 0)};
        expect(s, pos, '{');
        pos[0] = skip(s, pos[0]);
        if (peek(s, pos) == '}') {
            pos[0]++;
            end(s, pos);
            return out;
        }
        for (;;) {
            pos[0] = skip(s, pos[0]);
            String key = string(s, pos);
            pos[0] = skip(s, pos[0]);
            expect(s, pos, ':');
            pos[0] = skip(s, pos[0]);
            out.put(key, value(s, pos));
            pos[0] = skip(s, pos[0]);
            char c = peek(s, pos);
            pos[0]++;
            if (c == '}')
                break;
            if (c != ',')
                throw new IllegalArgumentException("expected , or } at " + (pos[0] - 1));
        }
        end(s, pos);
        return out;
    }

    private static void end(String s, int[] pos) {
        if (skip(s, pos[0]) != s.length())
            throw new IllegalArgumentException("trailing text at " + pos[0]);
    }

    private static int skip(String s, int i) {
        while (i < s.length() && Character.isWhitespace(s.charAt(i)))
            i++;
        return i;
    }

    private static char peek(String s, int[] pos) {
        if (pos[0] >= s.length())
            throw new IllegalArgumentException("unexpected end at " + pos[0]);
        return s.charAt(pos[0]);
    }

    private static void expect(String s, int[] pos, char c) {
        if (peek(s, pos) != c)
            throw new IllegalArgumentException("expected " + c + " at " + pos[0]);
        pos[0]++;
    }

    private static String value(String s, int[] pos) {
        char c = peek(s, pos);
        if (c == '"')
            return string(s, pos);
        int start = pos[0];
        while (pos[0] < s.length() && ",} \t\r\n".indexOf(s.charAt(pos[0])) < 0)
            pos[0]++;
        String lit = s.substring(start, pos[0]);
        if (lit.equals("null"))
            return null;
        if (lit.equals("true") || lit.equals("false") || lit.matches("-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?"))
            return lit;
        throw new IllegalArgumentException("bad value at " + start);
    }

    private static String string(String s, int[] pos) {
        expect(s, pos, '"');
        StringBuilder b = new StringBuilder();
        for (;;) {
            char c = peek(s, pos);
            pos[0]++;
            if (c == '"')
                return b.toString();
            if (c != '\\') {
                b.append(c);
                continue;
            }
            char e = peek(s, pos);
            pos[0]++;
            switch (e) {
            case '"': case '\\': case '/': b.append(e); break;
            case 'b': b.append('\b'); break;
            case 'f': b.append('\f'); break;
            case 'n': b.append('\n'); break;
            case 'r': b.append('\r'); break;
            case 't': b.append('\t'); break;
            case 'u':
                if (pos[0] + 4 > s.length())
                    throw new IllegalArgumentException("bad \\u escape at " + pos[0]);
                b.append((char) Integer.parseInt(s.substring(pos[0], pos[0] + 4), 16));
                pos[0] += 4;
                break;
            default:
                throw new IllegalArgumentException("bad escape at " + (pos[0] - 1));
            }
        }
    }

    /** Build a flat object from key/value pairs; values are written as strings. */
    static String object(String... kv) {
        StringBuilder b = new StringBuilder("{");
        for (int i = 0; i + 1 < kv.length; i += 2) {
            if (i > 0)
                b.append(',');
            quote(b, kv[i]);
            b.append(':');
            if (kv[i + 1] == null)
                b.append("null");
            else
                quote(b, kv[i + 1]);
        }
        return b.append('}').toString();
    }

    private static void quote(StringBuilder b, String s) {
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
            case '"': b.append("\\\""); break;
            case '\\': b.append("\\\\"); break;
            case '\n': b.append("\\n"); break;
            case '\r': b.append("\\r"); break;
            case '\t': b.append("\\t"); break;
            default:
                if (c < 0x20)
                    b.append(String.format("\\u%04x", (int) c));
                else
                    b.append(c);
            }
        }
        b.append('"');
    }
}
