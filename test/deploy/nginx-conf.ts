import { join } from 'node:path';

/**
 * A minimal nginx.conf around the documented server blocks `site` (docs/deploy/), for an nginx run
 * in the foreground by a test with everything it writes under `dir`.
 */
export function nginxMainConf(dir: string, site: string, errorLevel = 'warn'): string {
  return `
daemon off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log stderr ${errorLevel};
${process.getuid?.() === 0 ? 'user root;' : ''}
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  ${site}
}
`;
}
