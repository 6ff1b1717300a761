// The five services of the mixed-memory experiment (the paper's python, node, MySQL, nginx,
// Tomcat), each run with the same command line bare, in Reg and in Docker. Paths in a command
// are container paths; bare runs substitute host paths:
//   /work       the instance's own writable dir (MariaDB's datadir, Tomcat's catalina.base)
//   /tmp        scratch (sockets, pid files, nginx temp dirs)
//   /etc/bench  the bench's config files (nginx.conf) — a RET in Reg, a read-only bind in Docker
// Every service listens on 127.0.0.1 only; readiness is its port in LISTEN in its own network
// namespace. Every process runs as the same unprivileged uid in every engine.

import { chown, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchContext, ImageName } from './context.js';
import { BENCH_UID } from './peers/oci.js';
import { check } from './processes.js';
import { addRet } from './reg-core.js';

export type ServiceName = 'python' | 'node' | 'mariadb' | 'nginx' | 'tomcat';

export interface ServicePaths {
  work: string;
  tmp: string;
  conf: string;
}

export interface ServiceSpec {
  name: ServiceName;
  label: string;
  image: ImageName;
  port: number;
  argv: (p: ServicePaths) => string[];
  /** Fills the instance's /work before start (runs on the host, as root, then chowned). */
  prepareWork?: (dir: string) => Promise<void>;
  readyTimeoutMs: number;
}

const JAVA_HOME = '/usr/lib/jvm/java-17-openjdk-amd64';
const CATALINA_HOME = '/usr/share/tomcat10';

/** The order of the paper's section 5 (python, NodeJS, MySQL, Nginx, Tomcat). */
export const SERVICE_ORDER: ServiceName[] = ['python', 'node', 'mariadb', 'nginx', 'tomcat'];

const NGINX_CONF = `# The bench's nginx: foreground, two workers, everything writable under the -p prefix.
daemon off;
worker_processes 2;
pid nginx.pid;
events { worker_connections 256; }
http {
  include mime.types;
  access_log off;
  client_body_temp_path body;
  proxy_temp_path proxy;
  fastcgi_temp_path fastcgi;
  uwsgi_temp_path uwsgi;
  scgi_temp_path scgi;
  server {
    listen 127.0.0.1:18080;
    root /usr/share/nginx/html;
  }
}
`;

export class Services {
  readonly specs: Record<ServiceName, ServiceSpec>;
  /** Host dir holding /etc/bench (bare runs use it directly; Docker binds it). */
  readonly confDir: string;
  private mariadbTemplate: Promise<string> | undefined;
  private tomcatTemplate: Promise<string> | undefined;
  private rets: Promise<Record<ServiceName, string>> | undefined;

  constructor(private readonly ctx: BenchContext) {
    this.confDir = join(ctx.tmp, 'service-conf', 'etc', 'bench');
    this.specs = {
      python: {
        name: 'python',
        label: 'Python http.server',
        image: 'python',
        port: 18081,
        argv: () => ['python3', '-m', 'http.server', '18081', '--bind', '127.0.0.1'],
        readyTimeoutMs: 15_000,
      },
      node: {
        name: 'node',
        label: 'Node.js http server',
        image: 'node',
        port: 18082,
        argv: () => ['node', '-e', "require('http').createServer((q, s) => s.end('ok')).listen(18082, '127.0.0.1')"],
        readyTimeoutMs: 15_000,
      },
      mariadb: {
        name: 'mariadb',
        label: 'MariaDB (MySQL)',
        image: 'mariadb',
        port: 13306,
        argv: (p) => [
          '/usr/sbin/mariadbd',
          '--no-defaults',
          `--datadir=${p.work}/db`,
          `--socket=${p.tmp}/mysqld.sock`,
          `--pid-file=${p.tmp}/mysqld.pid`,
          `--tmpdir=${p.tmp}`,
          '--port=13306',
          '--bind-address=127.0.0.1',
          '--lc-messages-dir=/usr/share/mysql',
          '--character-sets-dir=/usr/share/mysql/charsets',
        ],
        prepareWork: async (dir) => {
          await check('cp', ['-a', await this.mariadbDatadir(), join(dir, 'db')]);
        },
        readyTimeoutMs: 60_000,
      },
      nginx: {
        name: 'nginx',
        label: 'nginx',
        image: 'nginx',
        port: 18080,
        argv: (p) => ['/usr/sbin/nginx', '-e', 'stderr', '-p', `${p.tmp}/`, '-c', `${p.conf}/nginx/nginx.conf`],
        readyTimeoutMs: 15_000,
      },
      tomcat: {
        name: 'tomcat',
        label: 'Tomcat 10 (OpenJDK 17)',
        image: 'tomcat',
        port: 18090,
        argv: (p) => [
          `${JAVA_HOME}/bin/java`,
          // Same heap, GC and CPU count everywhere: the JVM would otherwise size itself from the
          // cgroup limit in a container and from the host's 24 GiB when bare.
          '-Xms64m',
          '-Xmx256m',
          '-XX:+UseSerialGC',
          '-XX:ActiveProcessorCount=2',
          `-Djava.io.tmpdir=${p.work}/temp`,
          `-Dcatalina.base=${p.work}`,
          `-Dcatalina.home=${CATALINA_HOME}`,
          '-Djava.util.logging.manager=org.apache.juli.ClassLoaderLogManager',
          `-Djava.util.logging.config.file=${p.work}/conf/logging.properties`,
          '-cp',
          `${CATALINA_HOME}/bin/bootstrap.jar:${CATALINA_HOME}/bin/tomcat-juli.jar`,
          'org.apache.catalina.startup.Bootstrap',
          'start',
        ],
        prepareWork: async (dir) => {
          await check('cp', ['-a', `${await this.tomcatBase()}/.`, dir]);
        },
        readyTimeoutMs: 90_000,
      },
    };
  }

  /** Writes /etc/bench (the nginx config and its mime.types). */
  async writeConf(): Promise<void> {
    await mkdir(join(this.confDir, 'nginx'), { recursive: true });
    await writeFile(join(this.confDir, 'nginx', 'nginx.conf'), NGINX_CONF);
    await copyFile('/etc/nginx/mime.types', join(this.confDir, 'nginx', 'mime.types'));
  }

  /** A freshly initialised MariaDB datadir (mariadb-install-db once; copied per instance). */
  private mariadbDatadir(): Promise<string> {
    this.mariadbTemplate ??= (async () => {
      const dir = join(this.ctx.tmp, 'service-templates', 'mariadb');
      await mkdir(dir, { recursive: true });
      await check('mariadb-install-db', ['--no-defaults', `--datadir=${dir}/db`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db']);
      return `${dir}/db`;
    })();
    return this.mariadbTemplate;
  }

  /** A catalina.base: Debian's /etc/tomcat10 config with the connector on 127.0.0.1:18090. */
  private tomcatBase(): Promise<string> {
    this.tomcatTemplate ??= (async () => {
      const dir = join(this.ctx.tmp, 'service-templates', 'tomcat');
      for (const d of ['conf', 'logs', 'work', 'temp', 'lib', 'webapps']) await mkdir(join(dir, d), { recursive: true });
      await check('cp', ['-a', '/etc/tomcat10/.', join(dir, 'conf')]);
      await check('cp', ['-a', '/var/lib/tomcat10/webapps/ROOT', join(dir, 'webapps', 'ROOT')]);
      const server = await readFile(join(dir, 'conf', 'server.xml'), 'utf8');
      const patched = server.replace(/<Connector port="8080" protocol="HTTP\/1.1"/, '<Connector port="18090" address="127.0.0.1" protocol="HTTP/1.1"');
      if (patched === server) throw new Error('server.xml: the 8080 connector was not found');
      await writeFile(join(dir, 'conf', 'server.xml'), patched);
      return dir;
    })();
    return this.tomcatTemplate;
  }

  /** Makes an instance's /work: prepared content, owned by the bench uid. */
  async makeWork(spec: ServiceSpec, dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    if (spec.prepareWork) await spec.prepareWork(dir);
    await check('chown', ['-R', `${BENCH_UID}:${BENCH_UID}`, dir]);
    await chown(dir, BENCH_UID, BENCH_UID);
  }

  /**
   * The Reg reference of each service: the runtime RETs built from the host binaries, plus a small
   * RET per service for what the generic ELF profile cannot know (config, data files, the JDK's
   * dlopen'ed libraries and class files, Tomcat's jars), written in the paper's form and added with
   * `addRet` (files read from the host, or from the bench's config dir for /etc/bench).
   */
  regRefs(): Promise<Record<ServiceName, string>> {
    this.rets ??= (async () => {
      await this.ctx.ensurePackages();
      await this.writeConf();
      const python = await this.ctx.buildRuntime('/usr/bin/python3.11');
      const node = await this.ctx.buildRuntime('/usr/bin/node');
      const nginx = await this.ctx.buildRuntime('/usr/sbin/nginx');
      const mariadbd = await this.ctx.buildRuntime('/usr/sbin/mariadbd');
      const java = await this.ctx.buildRuntime(`${JAVA_HOME}/bin/java`);
      const dir = join(this.ctx.tmp, 'service-rets');
      await mkdir(dir, { recursive: true });
      const add = async (name: string, yaml: string, root = '/') => {
        const file = join(dir, `${name}.yaml`);
        await writeFile(file, yaml);
        await addRet(this.ctx.reg.home, file, { root });
        return `${name}@1`;
      };
      const exact = (ref: string) => ref.replace('@', '@=');
      const nginxConf = await add('bench-nginx-conf', `name: bench-nginx-conf\nversion: "1"\nkind: data\nfiles:\n  conf: /etc/bench/nginx\n`, join(this.ctx.tmp, 'service-conf'));
      const nginxSvc = await add(
        'bench-nginx',
        `name: bench-nginx\nversion: "1"\nfiles:\n  html: /usr/share/nginx/html\nrequires:\n  - "${exact(nginx)}"\n  - "${exact(nginxConf)}"\n`,
      );
      const mariadbSvc = await add('bench-mariadb', `name: bench-mariadb\nversion: "1"\nfiles:\n  share: /usr/share/mysql\nrequires:\n  - "${exact(mariadbd)}"\n`);
      const tomcatSvc = await add(
        'bench-tomcat',
        [
          'name: bench-tomcat',
          'version: "1"',
          'files:',
          `  jdk-lib: ${JAVA_HOME}/lib`,
          `  jdk-conf: ${JAVA_HOME}/conf`,
          `  jdk-release: ${JAVA_HOME}/release`,
          `  tomcat-bin: ${CATALINA_HOME}/bin`,
          `  tomcat-lib: ${CATALINA_HOME}/lib`,
          'requires:',
          `  - "${exact(java)}"`,
          // libjvm.so and friends are dlopen'ed; their DT_NEEDED libraries come from these RETs.
          '  - "libstdc++@6"',
          '  - "libgcc_s@1"',
          '  - "libm@6"',
          '  - "libz@1"',
          '',
        ].join('\n'),
      );
      return { python, node, mariadb: mariadbSvc, nginx: nginxSvc, tomcat: tomcatSvc };
    })();
    return this.rets;
  }
}
