package lakehouse.faults;

import io.delta.storage.HDFSLogStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;

/**
 * The crash tests' kill point: Delta's log store for local files, which blocks one commit for good.
 *
 * <p>Every Delta operation writes its data files first and then commits by writing
 * {@code _delta_log/<version>.json} through the log store. With the environment variables
 * {@code LAKEHOUSE_BLOCK_TABLE} (a table's absolute path), {@code LAKEHOUSE_BLOCK_OPERATION} (the
 * commit's operation, e.g. {@code WRITE}, {@code MERGE}, {@code OPTIMIZE}, {@code VACUUM END},
 * {@code DELETE}) and {@code LAKEHOUSE_BLOCK_MARKER} (a file path), the first matching commit
 * creates the marker file and never returns: the process is then killed by the test, after the
 * operation's files were written and before its commit, deterministically. With
 * {@code LAKEHOUSE_BLOCK_RELEASE} (a file path) as well, the commit goes ahead once that file
 * exists: another writer can commit in between, at a chosen moment. Every other commit is written
 * as by Delta's default {@link HDFSLogStore}.
 *
 * <p>Used only by the test suite, with {@code spark.delta.logStore.file.impl=lakehouse.faults.BlockingLogStore}.
 */
public class BlockingLogStore extends HDFSLogStore {
  public BlockingLogStore(Configuration conf) {
    super(conf);
  }

  @Override
  public void write(Path path, Iterator<String> actions, Boolean overwrite, Configuration conf) throws IOException {
    List<String> lines = new ArrayList<>();
    actions.forEachRemaining(lines::add);
    if (blocks(path, lines)) {
      Files.writeString(Paths.get(System.getenv("LAKEHOUSE_BLOCK_MARKER")), path.toString());
      String release = System.getenv("LAKEHOUSE_BLOCK_RELEASE");
      while (release == null || !Files.exists(Paths.get(release))) {
        try {
          Thread.sleep(100);
        } catch (InterruptedException ignored) {
          // blocked until the release file appears, or for good: then only a kill ends this commit
        }
      }
    }
    super.write(path, lines.iterator(), overwrite, conf);
  }

  private static boolean blocks(Path path, List<String> lines) {
    String table = System.getenv("LAKEHOUSE_BLOCK_TABLE");
    String operation = System.getenv("LAKEHOUSE_BLOCK_OPERATION");
    if (table == null || operation == null || !path.getName().matches("[0-9]{20}\\.json")) {
      return false;
    }
    String log = path.getParent().toUri().getPath();
    if (!log.equals(Paths.get(table, "_delta_log").toString())) {
      return false;
    }
    String wanted = "\"operation\":\"" + operation + "\"";
    return lines.stream().anyMatch(line -> line.startsWith("{\"commitInfo\"") && line.contains(wanted));
  }
}
