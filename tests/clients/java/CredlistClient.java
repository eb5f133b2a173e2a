// A Java client of credlist, JDK 17 standard library only.
//
// - HTTP check API over the loopback TCP listener (`[check] tcp`) with
//   java.net.http and `Authorization: Bearer <token>`: POST /v1/check,
//   POST /v1/feedback (any other endpoint of the OpenAPI document
//   GET /v1/openapi.json is called the same way).
// - Batch protocol versions 1 and 2 over the batch Unix socket with
//   SocketChannel and UnixDomainSocketAddress: frames sent together,
//   answers read in order.
//
// Build and run:
//
//   javac -d out tests/clients/java/CredlistClient.java
//   java -cp out CredlistClient --tcp 127.0.0.1:7420 --token TOKEN \
//       --batch-socket /run/credlist/batch.sock --matter gov_procurement \
//       --as-of 2026-11-20 91350100MA2Y3K8L5G 110101199003071233
//
// It prints one line per answer, the format the project's test reads:
//
//   check <code> <status|error> <must_apply ids, comma-separated or ->
//   feedback <http status>
//   batch <request_id> <flags, comma-separated>
//   batch-error <request_id> <status> <message>
//
// (`batch2` and `batch2-error` for answers of version 2.) Batch version 2
// (SPEC §8) is the same request layout with version byte 2, answered in
// version 2 with n × u16 little-endian flags: bits 0–7 as version 1, and
// 256 RELATED_BLACK, 512 RELATED_WATCH, 1024 RELATED_RED.

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.URI;
import java.net.UnixDomainSocketAddress;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;

public final class CredlistClient {

    /** The check API over HTTP/1.1 (the daemon speaks no HTTP/2). */
    public static final class Http {
        private final HttpClient http;
        private final URI base;
        private final String token;

        public Http(String hostPort, String token) {
            this.http = HttpClient.newBuilder()
                    .version(HttpClient.Version.HTTP_1_1)
                    .connectTimeout(Duration.ofSeconds(10))
                    .build();
            this.base = URI.create("http://" + hostPort);
            this.token = token;
        }

        /** An answer: the HTTP status and the parsed JSON body (null when empty). */
        public record Answer(int status, Object body) {}

        public Answer post(String path, String json) throws IOException, InterruptedException {
            HttpRequest req = HttpRequest.newBuilder(base.resolve(path))
                    .timeout(Duration.ofSeconds(30))
                    .header("Content-Type", "application/json")
                    .header("Authorization", "Bearer " + token)
                    .POST(HttpRequest.BodyPublishers.ofString(json, StandardCharsets.UTF_8))
                    .build();
            HttpResponse<String> r = http.send(req, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
            String b = r.body();
            return new Answer(r.statusCode(), b.isBlank() ? null : Json.parse(b));
        }

        /** POST /v1/check: {"matter", "as_of", "subjects": [{"code"}]}. */
        public Answer check(String matter, String asOf, List<String> codes)
                throws IOException, InterruptedException {
            StringJoiner subjects = new StringJoiner(",", "[", "]");
            for (String c : codes) {
                subjects.add("{\"code\":" + Json.quote(c) + "}");
            }
            String body = "{\"matter\":" + Json.quote(matter) + ",\"as_of\":" + Json.quote(asOf)
                    + ",\"subjects\":" + subjects + "}";
            return post("/v1/check", body);
        }

        /** POST /v1/feedback: what the implementing unit applied (204 when recorded). */
        public Answer feedback(String receipt, String code, String measure, boolean applied, String note)
                throws IOException, InterruptedException {
            String body = "{\"receipt\":" + Json.quote(receipt) + ",\"code\":" + Json.quote(code)
                    + ",\"measure\":" + Json.quote(measure) + ",\"applied\":" + applied
                    + ",\"note\":" + Json.quote(note) + "}";
            return post("/v1/feedback", body);
        }
    }

    /** Batch protocol versions: the version byte and the bytes of flags per code. */
    public enum Version {
        V1(1, 1),
        V2(2, 2);

        final int code;
        final int flagWidth;

        Version(int code, int flagWidth) {
            this.code = code;
            this.flagWidth = flagWidth;
        }

        static Version of(int code) {
            for (Version v : values()) {
                if (v.code == code) {
                    return v;
                }
            }
            throw new IllegalStateException("unknown batch version " + code);
        }
    }

    /** One batch answer: flags (status 0) or an error status and message. */
    public record BatchAnswer(long requestId, Version version, int status, int[] flags, String message) {}

    /** The batch socket: little-endian frames, answered in order. */
    public static final class Batch implements AutoCloseable {
        static final int OP_CHECK = 1;
        static final int CODE_LEN = 18;
        private final SocketChannel ch;

        public Batch(Path socket) throws IOException {
            ch = SocketChannel.open(StandardProtocolFamily.UNIX);
            ch.connect(UnixDomainSocketAddress.of(socket));
        }

        /** Days since 1970-01-01 of YYYY-MM-DD; 0 (today) for null or "". */
        public static int days(String asOf) {
            return asOf == null || asOf.isEmpty() ? 0 : (int) LocalDate.parse(asOf).toEpochDay();
        }

        /**
         * request: u32 len | u8 version | u8 op | u64 request_id | u32 as_of
         * | u16 matter_len | matter | u32 n | n × 18 code bytes (normalised).
         */
        public static ByteBuffer encode(Version v, long requestId, int asOf, String matter, List<String> codes) {
            byte[] m = matter.getBytes(StandardCharsets.UTF_8);
            int len = 20 + m.length + CODE_LEN * codes.size();
            ByteBuffer b = ByteBuffer.allocate(4 + len).order(ByteOrder.LITTLE_ENDIAN);
            b.putInt(len).put((byte) v.code).put((byte) OP_CHECK).putLong(requestId).putInt(asOf);
            b.putShort((short) m.length).put(m).putInt(codes.size());
            for (String c : codes) {
                byte[] cb = c.getBytes(StandardCharsets.US_ASCII);
                if (cb.length != CODE_LEN) {
                    throw new IllegalArgumentException("a batch code has 18 characters: " + c);
                }
                b.put(cb);
            }
            return b.flip();
        }

        public void send(ByteBuffer frame) throws IOException {
            while (frame.hasRemaining()) {
                ch.write(frame);
            }
        }

        private ByteBuffer readExact(int n) throws IOException {
            ByteBuffer b = ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
            while (b.hasRemaining()) {
                if (ch.read(b) < 0) {
                    throw new IOException("connection closed after " + b.position() + " of " + n + " bytes");
                }
            }
            return b.flip();
        }

        /**
         * response: u32 len | u8 version | u8 status | u64 request_id | u32 n
         * | n flags (flagWidth bytes each) or, when status != 0, n message bytes.
         */
        public BatchAnswer receive() throws IOException {
            int len = readExact(4).getInt();
            ByteBuffer f = readExact(len);
            Version v = Version.of(f.get() & 0xff);
            int status = f.get() & 0xff;
            long requestId = f.getLong();
            int n = f.getInt();
            if (status != 0) {
                byte[] msg = new byte[n];
                f.get(msg);
                return new BatchAnswer(requestId, v, status, null, new String(msg, StandardCharsets.UTF_8));
            }
            if (len != 14 + n * v.flagWidth) {
                throw new IOException("answer length " + len + " does not match its count " + n);
            }
            int[] flags = new int[n];
            for (int i = 0; i < n; i++) {
                flags[i] = v.flagWidth == 1 ? f.get() & 0xff : f.getShort() & 0xffff;
            }
            return new BatchAnswer(requestId, v, 0, flags, null);
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }

    /** A small JSON reader: objects, arrays, strings, numbers, booleans, null. */
    public static final class Json {
        private final String s;
        private int i;

        private Json(String s) {
            this.s = s;
        }

        public static Object parse(String text) {
            Json p = new Json(text);
            Object v = p.value();
            p.ws();
            if (p.i != p.s.length()) {
                throw p.error("trailing characters");
            }
            return v;
        }

        public static String quote(String v) {
            StringBuilder b = new StringBuilder("\"");
            for (char c : v.toCharArray()) {
                switch (c) {
                    case '"' -> b.append("\\\"");
                    case '\\' -> b.append("\\\\");
                    case '\n' -> b.append("\\n");
                    case '\r' -> b.append("\\r");
                    case '\t' -> b.append("\\t");
                    default -> {
                        if (c < 0x20) {
                            b.append(String.format("\\u%04x", (int) c));
                        } else {
                            b.append(c);
                        }
                    }
                }
            }
            return b.append('"').toString();
        }

        private IllegalArgumentException error(String what) {
            return new IllegalArgumentException("JSON: " + what + " at " + i);
        }

        private void ws() {
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
                i++;
            }
        }

        private Object value() {
            ws();
            if (i >= s.length()) {
                throw error("unexpected end");
            }
            char c = s.charAt(i);
            if (c == '{') {
                Map<String, Object> m = new LinkedHashMap<>();
                i++;
                ws();
                if (s.charAt(i) == '}') {
                    i++;
                    return m;
                }
                while (true) {
                    ws();
                    String k = string();
                    ws();
                    expect(':');
                    m.put(k, value());
                    ws();
                    if (s.charAt(i) == ',') {
                        i++;
                    } else {
                        expect('}');
                        return m;
                    }
                }
            }
            if (c == '[') {
                List<Object> l = new ArrayList<>();
                i++;
                ws();
                if (s.charAt(i) == ']') {
                    i++;
                    return l;
                }
                while (true) {
                    l.add(value());
                    ws();
                    if (s.charAt(i) == ',') {
                        i++;
                    } else {
                        expect(']');
                        return l;
                    }
                }
            }
            if (c == '"') {
                return string();
            }
            for (String lit : new String[] {"true", "false", "null"}) {
                if (s.startsWith(lit, i)) {
                    i += lit.length();
                    return lit.equals("null") ? null : Boolean.valueOf(lit);
                }
            }
            int start = i;
            while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) {
                i++;
            }
            if (start == i) {
                throw error("unexpected character");
            }
            return Double.valueOf(s.substring(start, i));
        }

        private void expect(char c) {
            if (i >= s.length() || s.charAt(i) != c) {
                throw error("expected " + c);
            }
            i++;
        }

        private String string() {
            expect('"');
            StringBuilder b = new StringBuilder();
            while (true) {
                char c = s.charAt(i++);
                if (c == '"') {
                    return b.toString();
                }
                if (c != '\\') {
                    b.append(c);
                    continue;
                }
                char e = s.charAt(i++);
                switch (e) {
                    case 'n' -> b.append('\n');
                    case 'r' -> b.append('\r');
                    case 't' -> b.append('\t');
                    case 'b' -> b.append('\b');
                    case 'f' -> b.append('\f');
                    case 'u' -> {
                        b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                        i += 4;
                    }
                    default -> b.append(e);
                }
            }
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> obj(Object o) {
        return (Map<String, Object>) o;
    }

    @SuppressWarnings("unchecked")
    private static List<Object> list(Object o) {
        return (List<Object>) o;
    }

    private static String joinFlags(int[] flags) {
        StringJoiner j = new StringJoiner(",");
        for (int f : flags) {
            j.add(Integer.toString(f));
        }
        return j.toString();
    }

    private static void printBatch(BatchAnswer a) {
        String label = a.version() == Version.V1 ? "batch" : "batch" + a.version().code;
        if (a.status() == 0) {
            System.out.println(label + " " + a.requestId() + " " + joinFlags(a.flags()));
        } else {
            System.out.println(label + "-error " + a.requestId() + " " + a.status() + " " + a.message());
        }
    }

    public static void main(String[] args) throws Exception {
        String tcp = null;
        String token = "";
        String batchSocket = null;
        String matter = "";
        String asOf = "";
        List<String> codes = new ArrayList<>();
        for (int k = 0; k < args.length; k++) {
            switch (args[k]) {
                case "--tcp" -> tcp = args[++k];
                case "--token" -> token = args[++k];
                case "--batch-socket" -> batchSocket = args[++k];
                case "--matter" -> matter = args[++k];
                case "--as-of" -> asOf = args[++k];
                default -> codes.add(args[k]);
            }
        }
        if (tcp != null) {
            Http http = new Http(tcp, token);
            Http.Answer a = http.check(matter, asOf, codes);
            if (a.status() != 200) {
                System.out.println("check-error " + a.status() + " " + obj(obj(a.body()).get("error")).get("kind"));
                System.exit(1);
            }
            String receipt = (String) obj(a.body()).get("receipt");
            String feedbackFor = null;
            for (Object o : list(obj(a.body()).get("results"))) {
                Map<String, Object> item = obj(o);
                String state = item.containsKey("error") ? "error" : (String) item.get("status");
                StringJoiner must = new StringJoiner(",");
                if (item.get("must_apply") != null) {
                    for (Object m : list(item.get("must_apply"))) {
                        must.add((String) obj(m).get("id"));
                        if (feedbackFor == null) {
                            feedbackFor = item.get("code") + " " + obj(m).get("id");
                        }
                    }
                }
                String ids = must.length() == 0 ? "-" : must.toString();
                System.out.println("check " + item.get("code") + " " + state + " " + ids);
            }
            if (feedbackFor != null) {
                String[] cm = feedbackFor.split(" ");
                Http.Answer f = http.feedback(receipt, cm[0], cm[1], true, "applied by the Java client");
                System.out.println("feedback " + f.status());
            }
        }
        if (batchSocket != null) {
            try (Batch b = new Batch(Path.of(batchSocket))) {
                int day = Batch.days(asOf);
                // Five frames in flight together; answers come in order.
                b.send(Batch.encode(Version.V1, 1, day, matter, codes));
                b.send(Batch.encode(Version.V1, 2, day, "", codes));
                b.send(Batch.encode(Version.V1, 3, day, "no_such_matter", codes));
                b.send(Batch.encode(Version.V2, 4, day, matter, codes));
                b.send(Batch.encode(Version.V2, 5, day, "no_such_matter", codes));
                for (int k = 0; k < 5; k++) {
                    printBatch(b.receive());
                }
            }
        }
    }
}
