/**
 * Refuses a request line without a version (HTTP/0.9, `GET /`) as soon as its line end is read.
 * llhttp takes such a line and then waits for a header section, so without this check the
 * connection would be held until the headers timeout. The check runs only when a read ends
 * inside a head (rare: normal heads arrive whole), and keeps only the start of that head.
 *
 * The connection tells it where messages begin and end within a read (`begin`, `complete`,
 * `headers`); it finds where the pending head starts in the read without offsets from llhttp.
 */

/** The end of a request line that names a version. */
const VERSIONED = / HTTP\/\d\.\d$/;
/** Longer request lines are left to the parser's header-size limit. */
const MAX_KEPT = 16 * 1024;

export class VersionLineCheck {
  /** The start of a pending head whose first line end has not arrived. */
  private line: string | undefined;
  /** In the current read: a message began / a message completed (before that one began). */
  private begunHere = false;
  private completedHere = false;
  private afterComplete = false;
  /** The last head announced a Content-Length body (which may end anywhere in a read). */
  private lastLength = false;

  /** A read starts. */
  read(): void {
    this.begunHere = false;
    this.completedHere = false;
  }

  /** The parser began a message. */
  begin(): void {
    this.begunHere = true;
    this.afterComplete = this.completedHere;
  }

  /** The parser completed a head (`lengthBody`: its body is framed by Content-Length). */
  headers(lengthBody: boolean): void {
    this.line = undefined;
    this.lastLength = lengthBody;
  }

  /** The parser completed a message. */
  complete(): void {
    this.completedHere = true;
  }

  /** Whether to look at the read at all: a head began in it, or one is being watched. */
  get watching(): boolean {
    return this.begunHere || this.line !== undefined;
  }

  /** The read `data` ended inside a head: false if that head's request line names no version. */
  ok(data: Buffer): boolean {
    let line = this.line;
    if (this.begunHere) {
      let start = 0;
      if (this.afterComplete) {
        // The head began after a message that ended in this read: at its blank line, unless
        // that message ended with a Content-Length body (not located here; the parser decides).
        if (this.lastLength) return true;
        start = data.lastIndexOf("\r\n\r\n");
        if (start < 0) return true;
        start += 4;
      }
      line = data.toString("latin1", start);
      let i = 0;
      while (line.charCodeAt(i) === 13 && line.charCodeAt(i + 1) === 10) i += 2;
      if (i > 0) line = line.slice(i);
    } else if (line !== undefined) line += data.toString("latin1");
    else return true;
    const eol = line.indexOf("\r\n");
    if (eol < 0) {
      this.line = line.length > MAX_KEPT ? undefined : line;
      return true;
    }
    this.line = undefined;
    return VERSIONED.test(line.slice(0, eol));
  }
}
